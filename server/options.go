package server

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shipgate/shipgate/webhook"
)

// Options is what `shipgate serve` is told on its command line.
type Options struct {
	// ConfigFile is the GatewayConfig to load and watch; empty means the
	// embedded defaults.
	ConfigFile string
	// Addr is the HTTPS listen address, ":8443" by default.
	Addr string
	// TLSCertFile and TLSKeyFile name the serving certificate; both or
	// neither. They are reloaded when they change.
	TLSCertFile string
	TLSKeyFile  string
	// CertDir receives a generated CA and serving certificate when no
	// certificate files are given; the CA bundle is CertDir/ca.crt.
	CertDir string
	// Hosts are the names and addresses a generated certificate covers.
	Hosts []string
	// Kubeconfig points at a cluster; empty means in-cluster config when
	// running in a Pod, and no cluster otherwise.
	Kubeconfig string
	// StoreURL overrides the configuration's store.url.
	StoreURL string
	// Namespace is shipgate's own namespace, where Secret references that
	// name none are looked up.
	Namespace string
	// NoCluster keeps the server from connecting to any cluster, even
	// inside a Pod (the demo plays the cluster itself).
	NoCluster bool
	// ShutdownGrace bounds how long in-flight requests get on SIGTERM.
	ShutdownGrace time.Duration
	// Logger receives the JSON logs.
	Logger *slog.Logger
	// Webhook holds extra options for both handlers (the demo uses it to
	// play the cluster's owner lookups).
	Webhook []webhook.Option
}

// setDefaults fills what the command line left empty.
func (o *Options) setDefaults() {
	if o.Namespace == "" {
		o.Namespace = "shipgate-system"
	}
	if o.Addr == "" {
		o.Addr = ":8443"
	}
	if o.CertDir == "" {
		o.CertDir = filepath.Join(os.TempDir(), "shipgate-certs")
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = 25 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
}

// Validate checks the options that can be wrong on their own.
func (o *Options) Validate() error {
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together: give both or neither")
	}
	return nil
}
