package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeFlags(t *testing.T) {
	t.Parallel()
	var got serveOptions
	cmd := newServeCommand(func(_ context.Context, o serveOptions) error { got = o; return nil })
	cmd.SetArgs([]string{
		"--config", "/etc/shipgate/gateway.yaml", "--addr", ":9443",
		"--tls-cert-file", "/tls/tls.crt", "--tls-key-file", "/tls/tls.key",
		"--kubeconfig", "/root/.kube/config", "--tls-hosts", "shipgate.shipgate-system.svc,10.0.0.1",
		"--shutdown-grace", "7s", "--log-level", "debug", "--gc-heap-floor", "48Mi",
	})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got.ConfigFile != "/etc/shipgate/gateway.yaml" || got.Addr != ":9443" ||
		got.TLSCertFile != "/tls/tls.crt" || got.TLSKeyFile != "/tls/tls.key" ||
		got.Kubeconfig != "/root/.kube/config" || got.ShutdownGrace != 7*time.Second ||
		len(got.Hosts) != 2 || got.Hosts[1] != "10.0.0.1" || got.Logger == nil ||
		got.HeapFloor != 48<<20 {
		t.Errorf("parsed options %+v", got)
	}
}

func TestServeRejectsABadLogLevel(t *testing.T) {
	t.Parallel()
	cmd := newServeCommand(func(context.Context, serveOptions) error { return nil })
	cmd.SetArgs([]string{"--log-level", "loud"})
	if err := cmd.ExecuteContext(t.Context()); err == nil {
		t.Error("--log-level loud was accepted")
	}
}

// TestServeHeapFloor: --gc-heap-floor is a quantity of bytes, 64Mi by
// default, and gives way to GOGC in the environment. Not parallel:
// t.Setenv.
func TestServeHeapFloor(t *testing.T) {
	tests := map[string]struct {
		args    []string
		gogc    string
		want    uint64
		wantErr string
	}{
		"the default":                  {want: 64 << 20},
		"in bytes":                     {args: []string{"--gc-heap-floor", "100000000"}, want: 100000000},
		"off":                          {args: []string{"--gc-heap-floor", "0"}, want: 0},
		"GOGC in the environment wins": {gogc: "200", want: 0},
		"not a quantity":               {args: []string{"--gc-heap-floor", "lots"}, wantErr: `--gc-heap-floor "lots"`},
		"a fraction of a byte":         {args: []string{"--gc-heap-floor", "1m"}, wantErr: "whole number of bytes"},
		"negative":                     {args: []string{"--gc-heap-floor", "-1Mi"}, wantErr: "whole number of bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.gogc != "" {
				t.Setenv("GOGC", tc.gogc)
			}
			var got serveOptions
			ran := false
			cmd := newServeCommand(func(_ context.Context, o serveOptions) error { got, ran = o, true; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(t.Context())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ran {
					t.Fatalf("error %v (ran: %v), want one containing %q and no run", err, ran, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.HeapFloor != tc.want {
				t.Errorf("HeapFloor = %d, want %d", got.HeapFloor, tc.want)
			}
		})
	}
}

// TestServeProfiles: --debug-addr serves Go's profiles on that address
// until the command's context ends.
func TestServeProfiles(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := newServeCommand(func(ctx context.Context, _ serveOptions) error {
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
			t.Errorf("GET /debug/pprof/goroutine: %s\n%s", resp.Status, body)
		}
		return nil
	})
	cmd.SetArgs([]string{"--debug-addr", addr})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 100 { // the listener closes once the context has ended
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("the profile listener still accepts connections after the command ended")
}
