package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/approval"
	approvalapi "github.com/shipgate/shipgate/approval/api"
	"github.com/shipgate/shipgate/audit"
	auditapi "github.com/shipgate/shipgate/audit/api"
	"github.com/shipgate/shipgate/config"
	kubeconfig "github.com/shipgate/shipgate/config/kube"
	kubeclient "github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/policy"
	policykube "github.com/shipgate/shipgate/policy/kube"
	"github.com/shipgate/shipgate/server/certs"
	"github.com/shipgate/shipgate/signer"
	signerapi "github.com/shipgate/shipgate/signer/api"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/webhook"
	kubeworkload "github.com/shipgate/shipgate/workload/kube"
)

// Server is a running shipgate: the HTTPS listener, the configuration
// watcher and the services built from it.
type Server struct {
	opts     Options
	log      *slog.Logger
	registry *prometheus.Registry
	config   func() *config.GatewayConfig
	watcher  *config.Watcher
	reloader *certs.Reloader
	kube     *kubeclient.Client
	nsCache  *kubeconfig.Namespaces
	caFile   string
	db       *store.DB
	audit    *audit.Log
	// approvals keeps approval requests; /validate and /v1/approvals use it.
	approvals *approval.Service
	// verifier resolves and verifies images for both webhooks, /v1/verify
	// and requests for approval made ahead of time.
	verifier *signer.Verifier
	// keychain is shipgate's own registry credentials (verification.dockerConfig).
	keychain authn.Keychain

	recorder           *webhook.AuditRecorder
	pins               signer.Pins
	policy             *policy.Engine
	policyDigest       string
	policyReloadErrors prometheus.Counter
	listener           net.Listener
	http               *http.Server
	ready              atomic.Bool
	drain              drain
	recorderDone       sync.WaitGroup
	reloadErrors       prometheus.Counter

	// policyConfigMaps loads policy ConfigMaps (policies.configMaps), nil
	// without them.
	policyConfigMaps *policykube.Source
}

// New builds a server from its options: it loads the configuration (an
// invalid file is an error with file and line), prepares TLS, connects to
// the cluster when there is one, and listens. Serving starts with Run.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reloadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shipgate_config_reload_errors_total",
		Help: "Configuration changes that were refused; the last good configuration stays in force.",
	})
	s.registry.MustRegister(s.reloadErrors)

	if err := s.loadConfig(); err != nil {
		return nil, err
	}
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	if !opts.NoCluster {
		kube, err := kubeClient(opts.Kubeconfig)
		if err != nil {
			return nil, err
		}
		s.kube = kube
	}
	kube := s.kube

	if err := s.openPolicy(s.config()); err != nil {
		return nil, err
	}
	if err := s.openState(context.Background(), s.config()); err != nil {
		return nil, err
	}
	guard, err := s.guard(s.config())
	if err != nil {
		s.closeState()
		return nil, err
	}

	s.recorder = webhook.NewAuditRecorder(s.audit, webhook.WithDenialWindow(s.config().Audit.DenialWindow.Duration), webhook.WithAuditLogger(s.log))
	wopts := []webhook.Option{
		webhook.WithLogger(s.log),
		webhook.WithRecorder(s.recorder),
		webhook.WithPolicy(s.policy),
	}
	if kube != nil {
		s.nsCache = kubeconfig.NewNamespaces(kube, 10*time.Minute)
		wopts = append(wopts, webhook.WithNamespaceLabels(s.nsCache), webhook.WithOwners(kubeworkload.NewOwners(kube)))
	}
	if err := s.openSigner(context.Background(), s.config()); err != nil {
		s.closeState()
		return nil, err
	}
	s.pins = signer.StorePins(s.db)
	wopts = append(wopts, webhook.WithVerifier(s.verifier), webhook.WithPins(s.pins))
	if kube != nil {
		wopts = append(wopts, webhook.WithPullSecrets(signer.NewPullSecrets(kube, s.keychain)))
	}
	if err := s.openApprovals(s.verifier); err != nil {
		s.closeState()
		return nil, err
	}
	metrics := webhook.NewMetrics(s.registry)
	wopts = append(wopts, webhook.WithApprovals(s.approvals), webhook.WithMetrics(metrics))
	wopts = append(wopts, opts.Webhook...)

	gate := webhook.NewGate(func() int { return s.config().Webhook.MaxInFlight }, s.registry)
	timing := func() (time.Duration, time.Duration) {
		w := s.config().Webhook
		return w.DefaultTimeout.Duration, w.TimeoutMargin.Duration
	}
	router := s.routes(
		webhook.Serve("mutate", webhook.NewMutator(s.config, wopts...), timing, metrics, s.log, webhook.WithGate(gate)),
		webhook.Serve("validate", webhook.NewValidator(s.config, wopts...), timing, metrics, s.log, webhook.WithGate(gate)),
	)
	auditapi.Register(router, s.audit, guard)
	approvalapi.Register(router, s.approvals, guard)
	signerapi.Register(router, s.verifier, s.trustFor, guard)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		s.closeState()
		return nil, fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           capRequests(router, func() int { return s.config().Webhook.MaxRequestsPerConnection }),
		ConnContext:       countRequests,
		ConnState:         s.drain.connState,
		TLSConfig:         certs.TLSConfig(s.reloader.GetCertificate),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      40 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// loadConfig loads and watches the config file, or takes the embedded
// defaults when there is none.
func (s *Server) loadConfig() error {
	if s.opts.ConfigFile == "" {
		cfg := config.Default()
		s.config = func() *config.GatewayConfig { return cfg }
		return nil
	}
	w, err := config.NewWatcher(s.opts.ConfigFile,
		config.WithOnChange(func(_, cfg *config.GatewayConfig) {
			s.reloadTrust(cfg)
			s.log.Info("configuration reloaded", "file", s.opts.ConfigFile, "revision", cfg.Revision())
		}),
		config.WithOnError(func(err error) {
			s.reloadErrors.Inc()
			s.log.Error("configuration change refused; keeping the last good one", "file", s.opts.ConfigFile, "error", err.Error())
		}),
	)
	if err != nil {
		return err
	}
	s.watcher, s.config = w, w.Current
	return nil
}

// setupTLS loads the given certificate or generates a CA and a serving
// certificate, writing the CA bundle for the webhook configuration.
func (s *Server) setupTLS() error {
	certFile, keyFile := s.opts.TLSCertFile, s.opts.TLSKeyFile
	if certFile == "" {
		paths, err := certs.GenerateSelfSigned(s.opts.CertDir, s.opts.Hosts, 365*24*time.Hour)
		if err != nil {
			return fmt.Errorf("generating a self-signed certificate: %w", err)
		}
		certFile, keyFile, s.caFile = paths.CertFile, paths.KeyFile, paths.CAFile
		s.log.Info("generated a self-signed serving certificate", "caBundle", s.caFile, "hosts", s.opts.Hosts)
	}
	r, err := certs.NewReloader(certFile, keyFile,
		certs.WithOnError(func(err error) {
			s.log.Error("serving certificate change refused; keeping the current one", "error", err.Error())
		}),
		certs.WithOnReload(func(c *x509.Certificate) {
			s.log.Info("serving certificate reloaded", "notAfter", c.NotAfter)
		}),
	)
	if err != nil {
		return err
	}
	s.reloader = r
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// CAFile is the generated CA bundle, or "" when certificates were given.
func (s *Server) CAFile() string { return s.caFile }

// Run serves until ctx is cancelled, then shuts down gracefully: readiness
// goes false first, new connections stop, and in-flight admissions finish
// within ShutdownGrace.
func (s *Server) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	g.Go(func() error { return s.reloader.Run(bg) })
	if s.watcher != nil {
		g.Go(func() error { return s.watcher.Run(bg) })
	}
	g.Go(func() error { return s.watchPolicy(bg) })
	s.recorderDone.Add(1)
	g.Go(func() error {
		defer s.recorderDone.Done()
		return s.recorder.Run(bg)
	})
	g.Go(func() error { return s.approvals.Run(bg) })
	g.Go(func() error { return s.refreshTrust(bg) })
	if s.nsCache != nil {
		s.nsCache.Start(bg)
	}
	s.ready.Store(true)
	s.log.Info("shipgate serving", "addr", s.Addr().String(), "config", s.opts.ConfigFile)

	g.Go(func() error {
		err := s.http.Serve(tls.NewListener(s.listener, s.http.TLSConfig))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving HTTPS: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		s.ready.Store(false)
		s.drain.closing.Store(true)
		s.log.Info("shutting down", "grace", s.opts.ShutdownGrace.String())
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
		defer cancel()
		err := s.http.Shutdown(sctx)
		stopBG()
		s.recorderDone.Wait() // coalesced denials are appended before the log closes
		s.closeState()
		return err
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// closeState flushes the audit log (its last checkpoint) and closes the
// store, after in-flight admissions have finished.
func (s *Server) closeState() {
	if s.approvals != nil {
		s.approvals.Close(notifyGrace)
	}
	if s.pins != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.pins.Flush(ctx); err != nil {
			s.log.Error("writing the counts of inherited objects", "error", err.Error())
		}
		cancel()
	}
	if s.verifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.verifier.Flush(ctx); err != nil {
			s.log.Error("keeping verifications in the store", "error", err.Error())
		}
		cancel()
	}
	if s.audit != nil {
		if err := s.audit.Close(); err != nil {
			s.log.Error("closing the audit log", "error", err.Error())
		}
	}
	if s.db != nil {
		s.db.Close()
	}
}

// Store is the open store.
func (s *Server) Store() *store.DB { return s.db }

// routes is the HTTP surface.
func (s *Server) routes(mutate, validate http.Handler) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/mutate", gin.WrapH(mutate))
	r.POST("/validate", gin.WrapH(validate))
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", func(c *gin.Context) {
		if !s.ready.Load() {
			c.String(http.StatusServiceUnavailable, "not ready")
			return
		}
		if err := s.db.SQL().PingContext(c.Request.Context()); err != nil {
			c.String(http.StatusServiceUnavailable, "store unreachable: %v", err)
			return
		}
		if s.nsCache != nil && !s.nsCache.HasSynced() {
			c.String(http.StatusServiceUnavailable, "namespace cache not synced")
			return
		}
		if s.policyConfigMaps != nil && !s.policyConfigMaps.HasSynced() {
			c.String(http.StatusServiceUnavailable, "policy ConfigMaps not loaded")
			return
		}
		c.String(http.StatusOK, "ok")
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})))
	return r
}
