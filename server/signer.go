package server

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
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
	s.verifier = signer.New(cfg.Verification, trust,
		signer.WithLastKnownGood(s.db), signer.WithKeychain(kc), signer.WithLogger(s.log))
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
	s.verifier.SetTrust(t)
}

// pins adapts the store to what the webhooks keep about rollouts.
type pins struct{ db *store.DB }

var _ signer.Pins = pins{}

func (p pins) PutRollout(ctx context.Context, r signer.Rollout) error {
	return p.db.PutRollout(ctx, store.Rollout{
		Fingerprint: r.Fingerprint, Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, UID: r.UID,
		Digests: r.Digests, DecisionID: r.DecisionID, AdmittedAt: r.AdmittedAt,
	})
}

func (p pins) PutPin(ctx context.Context, namespace, kind, name string, pin signer.Pin) error {
	return p.db.PutPin(ctx, namespace, kind, name, store.Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt})
}

func (p pins) GetPin(ctx context.Context, namespace, kind, name string) (signer.Pin, bool, error) {
	pin, ok, err := p.db.GetPin(ctx, namespace, kind, name)
	return signer.Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt}, ok, err
}

func (p pins) CountInherited(ctx context.Context, fingerprint string) error {
	return p.db.CountInherited(ctx, fingerprint)
}
