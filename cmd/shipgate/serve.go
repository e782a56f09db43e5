package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/shipgate/shipgate/internal/gcfloor"
	"github.com/shipgate/shipgate/server"
)

// serveOptions are what `shipgate serve` runs with: the server's options
// and the process's GC heap floor (internal/gcfloor), in bytes, 0 for none.
type serveOptions struct {
	server.Options
	HeapFloor uint64
}

// newServeCommand builds `shipgate serve`; run receives the parsed options
// so a test can check them without starting a server.
func newServeCommand(run func(context.Context, serveOptions) error) *cobra.Command {
	var opts serveOptions
	var logLevel, debugAddr, heapFloor string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the admission webhooks over HTTPS",
		Long: `Serve /mutate and /validate (admission.k8s.io/v1), /healthz, /readyz and
/metrics over HTTPS. The configuration file is watched: a valid change
applies at once, an invalid one is refused and the last good one stays.
Without --tls-cert-file and --tls-key-file a CA and a serving certificate
are generated in --cert-dir, and the CA bundle for the webhook
configuration is written there as ca.crt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			floor, err := parseHeapFloor(heapFloor)
			if err != nil {
				return err
			}
			// An explicit GC percent is the operator's: the floor
			// would overwrite it after the first collection.
			if gogc := os.Getenv("GOGC"); floor > 0 && gogc != "" {
				opts.Logger.Info("GOGC is set in the environment: --gc-heap-floor is not applied", "GOGC", gogc)
				floor = 0
			}
			opts.HeapFloor = floor
			if debugAddr != "" {
				if err := serveProfiles(cmd.Context(), debugAddr, opts.Logger); err != nil {
					return err
				}
			}
			return run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigFile, "config", "", "GatewayConfig file (default: the embedded defaults)")
	f.StringVar(&opts.Addr, "addr", ":8443", "HTTPS listen address")
	f.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "serving certificate (PEM), reloaded when it changes")
	f.StringVar(&opts.TLSKeyFile, "tls-key-file", "", "serving key (PEM), reloaded when it changes")
	f.StringVar(&opts.CertDir, "cert-dir", "", "where a generated CA and certificate go (default: $TMPDIR/shipgate-certs)")
	f.StringSliceVar(&opts.Hosts, "tls-hosts", nil, "names and addresses a generated certificate covers (default: localhost, 127.0.0.1, ::1)")
	f.StringVar(&opts.StoreURL, "store", "", "store URL, overriding store.url: sqlite:///path/shipgate.db or postgres://… (default sqlite://shipgate.db)")
	f.StringVar(&opts.Namespace, "namespace", "shipgate-system", "shipgate's own namespace (Secret references that name none)")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster config inside a Pod, none outside)")
	f.DurationVar(&opts.ShutdownGrace, "shutdown-grace", 0, "time in-flight requests get on SIGTERM (default 25s)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&heapFloor, "gc-heap-floor", resource.NewQuantity(gcfloor.Default, resource.BinarySI).String(), "heap size below which the Go runtime does not collect, e.g. 64Mi, at most a quarter of the container's memory limit; 0 collects at GOGC=100 always; ignored when GOGC is set (docs/operations.md)")
	f.StringVar(&debugAddr, "debug-addr", "", "plain-HTTP address for Go's profiles (/debug/pprof/), e.g. 127.0.0.1:6060; off by default, never expose it beyond loopback")
	return cmd
}

// serveProfiles serves net/http/pprof's handlers on addr until ctx ends.
func serveProfiles(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving profiles", "addr", addr, "error", err.Error())
		}
	}()
	log.Info("serving Go profiles", "addr", ln.Addr().String())
	return nil
}

// parseHeapFloor reads --gc-heap-floor, a Kubernetes quantity of bytes.
func parseHeapFloor(s string) (uint64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("--gc-heap-floor %q: %w", s, err)
	}
	n, ok := q.AsInt64()
	if !ok || n < 0 {
		return 0, fmt.Errorf("--gc-heap-floor %q: want a whole number of bytes, 0 or more, such as 64Mi", s)
	}
	return uint64(n), nil
}

func runServe(ctx context.Context, opts serveOptions) error {
	if opts.HeapFloor > 0 {
		limit := gcfloor.MemoryLimit(os.DirFS("/"))
		opts.HeapFloor = gcfloor.Clamp(opts.HeapFloor, limit)
		opts.Logger.Info("GC heap floor", "floorBytes", opts.HeapFloor, "memoryLimitBytes", limit)
	}
	defer gcfloor.Start(opts.HeapFloor, opts.Logger).Stop()
	s, err := server.New(opts.Options)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
