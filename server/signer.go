package server

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
)

// openSigner compiles the trust policies and starts the verifier, with
// last-known-good kept in the store.
func (s *Server) openSigner(ctx context.Context, cfg *config.GatewayConfig) error {
	trust, err := s.compileTrust(ctx, cfg)
	if err != nil {
		return err
	}
	var kc authn.Keychain
	if p := cfg.Verification.DockerConfig; p != "" {
		kc = signer.DockerConfigKeychain(p)
	}
	s.keychain = kc
	s.verifier = signer.New(cfg.Verification, trust,
		signer.WithLastKnownGood(s.db), signer.WithKeychain(kc), signer.WithLogger(s.log))
	v := s.verifier
	for _, src := range []signer.Source{signer.FromMemory, signer.FromStore, signer.FromRegistry} {
		s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "shipgate_verification_lookups_total",
			Help:        "Image digests looked up for verification, by where the verdict came from: the memory cache, the store (the cache's second tier) or the registry.",
			ConstLabels: prometheus.Labels{"source": src.String()},
		}, func() float64 { return float64(v.Lookups(src)) }))
	}
	s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "shipgate_registry_requests_total",
		Help: "HTTP requests sent to image registries.",
	}, func() float64 { return float64(v.RegistryRequests()) }))
	return nil
}

// compileTrust reads every key and certificate the trust policies name.
func (s *Server) compileTrust(ctx context.Context, cfg *config.GatewayConfig) (*signer.Trust, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	read := func(src *config.Source) ([]byte, error) { return readSource(ctx, s.kube, src, s.opts.Namespace) }
	t, err := signer.CompileTrust(cfg, read)
	if err != nil {
		return nil, fmt.Errorf("loading trust policies: %w", err)
	}
	return t, nil
}

// trustRefresh is how often the keys and certificates the trust policies
// name are read again: a key in a Secret or a file can be rotated or
// revoked without touching the configuration.
const trustRefresh = 30 * time.Second

// refreshTrust reads the trust policies' sources every trustRefresh and
// puts them in force when any of them changed.
func (s *Server) refreshTrust(ctx context.Context) error {
	t := time.NewTicker(trustRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.reloadTrust(s.config())
		}
	}
}

// reloadTrust puts the trust policies of a reloaded configuration in
// force. When a key cannot be read, the policies in force stay.
func (s *Server) reloadTrust(cfg *config.GatewayConfig) {
	if s.verifier == nil {
		return
	}
	t, err := s.compileTrust(context.Background(), cfg)
	if err != nil {
		s.reloadErrors.Inc()
		s.log.Error("trust policies not reloaded; keeping the last good ones", "error", err.Error())
		return
	}
	if t.Revision() != s.verifier.TrustRevision() {
		s.verifier.SetTrust(t)
		s.log.Info("trust policies reloaded", "revision", t.Revision())
	}
}

// trustFor is the trust policies bound to a namespace, for /v1/verify.
func (s *Server) trustFor(ctx context.Context, namespace string) ([]string, error) {
	r, err := s.binding(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return r.Binding.Trust, nil
}
