package main

import (
	"context"
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
