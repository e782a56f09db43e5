package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/server"
)

func TestServeFlags(t *testing.T) {
	t.Parallel()
	var got server.Options
	cmd := newServeCommand(func(_ context.Context, o server.Options) error { got = o; return nil })
	cmd.SetArgs([]string{
		"--config", "/etc/shipgate/gateway.yaml", "--addr", ":9443",
		"--tls-cert-file", "/tls/tls.crt", "--tls-key-file", "/tls/tls.key",
		"--kubeconfig", "/root/.kube/config", "--tls-hosts", "shipgate.shipgate-system.svc,10.0.0.1",
		"--shutdown-grace", "7s", "--log-level", "debug",
	})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got.ConfigFile != "/etc/shipgate/gateway.yaml" || got.Addr != ":9443" ||
		got.TLSCertFile != "/tls/tls.crt" || got.TLSKeyFile != "/tls/tls.key" ||
		got.Kubeconfig != "/root/.kube/config" || got.ShutdownGrace != 7*time.Second ||
		len(got.Hosts) != 2 || got.Hosts[1] != "10.0.0.1" || got.Logger == nil {
		t.Errorf("parsed options %+v", got)
	}
}

func TestServeRejectsABadLogLevel(t *testing.T) {
	t.Parallel()
	cmd := newServeCommand(func(context.Context, server.Options) error { return nil })
	cmd.SetArgs([]string{"--log-level", "loud"})
	if err := cmd.ExecuteContext(t.Context()); err == nil {
		t.Error("--log-level loud was accepted")
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
	cmd := newServeCommand(func(ctx context.Context, _ server.Options) error {
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
