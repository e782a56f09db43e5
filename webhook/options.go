package webhook

import (
	"log/slog"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/workload"
)

// Option configures a Validator or a Mutator.
type Option func(*options)

type options struct {
	namespaces  config.NamespaceLabels
	owners      workload.OwnerLookup
	ids         func() string
	log         *slog.Logger
	recorder    Recorder
	policy      *policy.Engine
	verifier    ImageVerifier
	pullSecrets PullSecrets
	pins        signer.Pins
	approvals   Approvals
	now         func() time.Time
	metrics     *Metrics
}

func newOptions(opts []Option) options {
	o := options{
		namespaces: config.StaticNamespaces(nil),
		ids:        NewDecisionID,
		log:        slog.Default(),
		now:        time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithNamespaceLabels sets where namespace labels come from (a client-go
// informer in a cluster, a static map offline). Default: no labels.
func WithNamespaceLabels(n config.NamespaceLabels) Option {
	return func(o *options) { o.namespaces = n }
}

// WithOwners sets how an owner's existence is checked. Without it nothing
// is inherited: every object is judged as a bare one.
func WithOwners(l workload.OwnerLookup) Option {
	return func(o *options) { o.owners = l }
}

// WithIDs replaces the decision id generator (tests use a fixed sequence).
func WithIDs(f func() string) Option {
	return func(o *options) { o.ids = f }
}

// WithLogger sets the structured logger decisions are written to.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}
