package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	policykube "github.com/shipgate/shipgate/policy/kube"
)

// policyPoll is how often the policy directory is re-read. A mounted
// ConfigMap changes by an atomic symlink swap, which a re-read sees whole.
const policyPoll = 2 * time.Second

// openPolicy compiles the policy directory of the configuration (none: an
// empty cluster policy, so a binding that names a set fails closed with
// "unknown set"). A built-in that errors inside a rule is an evaluation
// error, not a rule that silently does not fire: fail closed.
//
// With policies.configMaps and a cluster, the policy ConfigMaps are loaded
// too (policy/kube): those of shipgate's namespace merged with the
// directory, the others as their namespaces' own policy. The setting is
// read at start; changing it takes a restart.
func (s *Server) openPolicy(cfg *config.GatewayConfig) error {
	b := policy.NewBundle()
	if dir := cfg.Policies.Directory; dir != "" {
		var err error
		if b, err = policy.LoadDir(dir); err != nil {
			return err
		}
	}
	e, err := policy.New(b, nil, policy.WithStrictBuiltinErrors(), policy.WithNetworkHosts(cfg.Policies.NetworkHosts...))
	if err != nil {
		return err
	}
	s.policy, s.policyDigest = e, b.Digest()
	s.policyReloadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shipgate_policy_reload_errors_total",
		Help: "Policy changes that did not compile; the last good policy stays in force.",
	})
	s.registry.MustRegister(s.policyReloadErrors)
	switch {
	case cfg.Policies.ConfigMaps && s.kube != nil:
		// client-go's informers log through klog: keep the logs JSON.
		klog.SetSlogLogger(s.log)
		s.policyConfigMaps = policykube.New(s.kube, e,
			policykube.WithNamespace(s.opts.Namespace),
			policykube.WithDirectory(b),
			policykube.WithLogger(s.log),
			policykube.WithRegisterer(s.registry))
	case cfg.Policies.ConfigMaps:
		s.log.Warn("policies.configMaps is set but no cluster is configured: policy ConfigMaps are not loaded")
	}
	return nil
}

// setDirectoryPolicy puts a new reading of the policy directory in force,
// with the policy ConfigMaps when they are loaded.
func (s *Server) setDirectoryPolicy(b *policy.Bundle) error {
	if s.policyConfigMaps != nil {
		return s.policyConfigMaps.SetDirectory(b)
	}
	return s.policy.Update(b, nil)
}

// watchPolicy re-reads the policy directory and swaps in a new revision
// when it changed and compiles; a change that does not compile is logged
// and counted, and the last good revision stays. It runs the policy
// ConfigMaps' watch beside it, when there is one.
func (s *Server) watchPolicy(ctx context.Context) error {
	if cms := s.policyConfigMaps; cms != nil {
		done := make(chan error, 1)
		go func() { done <- cms.Run(ctx) }()
		defer func() { <-done }()
	}
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
			err = s.setDirectoryPolicy(b)
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
