package server

import (
	"context"
	"fmt"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/webhook"
)

// notifyGrace is how long shutdown waits for approval notifications still
// being delivered.
const notifyGrace = 5 * time.Second

// openApprovals starts the approval service on the store and the audit
// log. Requests made ahead of time (POST /v1/approvals) take the approval
// rule of the namespace binding in force; notifications go to the
// receivers of the configuration in force.
//
// verifier must be the signer /validate verifies with, or nil when
// /validate has none: an approval binds to a fingerprint over the digests
// /validate verified, so requests made ahead of time must resolve digests
// through the same verifier to fingerprint alike.
func (s *Server) openApprovals(verifier webhook.ImageVerifier) error {
	opts := []approval.Option{
		approval.WithRules(s.approvalRules),
		approval.WithNotifyTargets(func() []config.NotifyTarget { return s.config().Approvals.Notify }),
		approval.WithLogger(s.log),
	}
	if d := s.config().Approvals.SweepInterval.Duration; d > 0 {
		opts = append(opts, approval.WithSweepInterval(d))
	}
	if verifier != nil {
		opts = append(opts, approval.WithResolver(verifierResolver{v: verifier, s: s}))
	}
	svc, err := approval.New(s.db, s.audit, opts...)
	if err != nil {
		return err
	}
	s.approvals = svc
	return nil
}

// binding is the namespace binding in force for namespace.
func (s *Server) binding(ctx context.Context, namespace string) (config.Resolved, error) {
	var labels map[string]string
	if s.nsCache != nil {
		var err error
		if labels, err = s.nsCache.Labels(ctx, namespace); err != nil {
			return config.Resolved{}, fmt.Errorf("looking up namespace %s: %w", namespace, err)
		}
	}
	return s.config().Resolve(namespace, labels), nil
}

// approvalRules are the requirements of a namespace's binding.
func (s *Server) approvalRules(ctx context.Context, namespace string) ([]approval.Requirement, error) {
	r, err := s.binding(ctx, namespace)
	if err != nil || r.Excluded || r.Binding.Approval == nil {
		return nil, err
	}
	return []approval.Requirement{approval.FromRule(r.Binding.Approval)}, nil
}

// verifierResolver resolves digests as /validate does: the signer verifies
// each reference under the namespace binding's trust policies, and only the
// digests it verified count.
type verifierResolver struct {
	v webhook.ImageVerifier
	s *Server
}

func (r verifierResolver) Resolve(ctx context.Context, namespace string, refs []string) (map[string]string, error) {
	b, err := r.s.binding(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(refs))
	for _, res := range r.v.Verify(ctx, signer.Request{Images: refs, Trust: b.Binding.Trust, DryRun: true}) {
		if res.Verified && res.Digest != "" {
			out[res.Ref] = res.Digest
		}
	}
	return out, nil
}
