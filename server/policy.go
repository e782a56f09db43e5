package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
)

// policyPoll is how often the policy directory is re-read. A mounted
// ConfigMap changes by an atomic symlink swap, which a re-read sees whole.
const policyPoll = 2 * time.Second

// openPolicy compiles the policy directory of the configuration (none: an
// empty cluster policy, so a binding that names a set fails closed with
// "unknown set"). A built-in that errors inside a rule is an evaluation
// error, not a rule that silently does not fire: fail closed.
func (s *Server) openPolicy(cfg *config.GatewayConfig) error {
	b := policy.NewBundle()
	if dir := cfg.Policies.Directory; dir != "" {
		var err error
		if b, err = policy.LoadDir(dir); err != nil {
			return err
		}
	}
	e, err := policy.New(b, nil, policy.WithStrictBuiltinErrors())
	if err != nil {
		return err
	}
	s.policy, s.policyDigest = e, b.Digest()
	s.policyReloadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shipgate_policy_reload_errors_total",
		Help: "Policy changes that did not compile; the last good policy stays in force.",
	})
	s.registry.MustRegister(s.policyReloadErrors)
	return nil
}

// watchPolicy re-reads the policy directory and swaps in a new revision
// when it changed and compiles; a change that does not compile is logged
// and counted, and the last good revision stays.
func (s *Server) watchPolicy(ctx context.Context) error {
	t := time.NewTicker(policyPoll)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		dir := s.config().Policies.Directory
		if dir == "" {
			continue
		}
		b, err := policy.LoadDir(dir)
		if err == nil && b.Digest() == s.policyDigest {
			continue
		}
		if err == nil {
			err = s.policy.Update(b, nil)
		}
		if err != nil {
			if err.Error() != lastErr {
				s.policyReloadErrors.Inc()
				s.log.Error("policy change refused; keeping the last good policy", "dir", dir, "error", err.Error())
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		s.policyDigest = b.Digest()
		s.log.Info("policy reloaded", "dir", dir, "revision", s.policy.Revision())
	}
}
