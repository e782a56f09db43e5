package kube

import (
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shipgate/shipgate/policy"
)

// Option configures a Source.
type Option func(*options)

type options struct {
	namespace string
	directory *policy.Bundle
	log       *slog.Logger
	registry  prometheus.Registerer
	lease     string
	identity  string
	debounce  time.Duration
	// leaseDuration, renewDeadline and retryPeriod time the leader
	// election.
	leaseDuration, renewDeadline, retryPeriod time.Duration
}

// WithNamespace is shipgate's own namespace: its policy ConfigMaps are
// cluster policy, and the Lease is there. Default "shipgate-system".
func WithNamespace(ns string) Option {
	return func(o *options) { o.namespace = ns }
}

// WithDirectory is the policy directory's bundle the Engine was built
// with; the ConfigMaps of shipgate's namespace are merged with it. Give
// later readings to Source.SetDirectory.
func WithDirectory(b *policy.Bundle) Option {
	return func(o *options) { o.directory = b }
}

// WithLogger receives what loads, what is refused, and leadership.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithRegisterer registers the Source's metrics (none without it).
func WithRegisterer(r prometheus.Registerer) Option {
	return func(o *options) { o.registry = r }
}

// WithLease names the coordination.k8s.io Lease, in shipgate's namespace,
// whose holder writes the statuses. Default "shipgate-policy-status".
func WithLease(name string) Option {
	return func(o *options) { o.lease = name }
}

// WithIdentity is this replica's name in the Lease. Default: the host name
// (the Pod's name) and a random suffix, so a restarted Pod is a new holder.
func WithIdentity(id string) Option {
	return func(o *options) { o.identity = id }
}

// WithDebounce is how long a change waits for more before the policy is
// composed again: a burst of ConfigMap events (an apply of a whole folder,
// the first list) compiles once. Default 100ms.
func WithDebounce(d time.Duration) Option {
	return func(o *options) { o.debounce = d }
}

// WithLeaseTiming sets the leader election's lease duration, renew
// deadline and retry period. Defaults 15s, 10s and 2s, as Kubernetes'
// own controllers: a new leader takes over within 15s of the old one
// vanishing, at once when it stops cleanly (it releases the Lease).
func WithLeaseTiming(duration, renew, retry time.Duration) Option {
	return func(o *options) { o.leaseDuration, o.renewDeadline, o.retryPeriod = duration, renew, retry }
}

// newOptions applies opts over the defaults.
func newOptions(opts []Option) options {
	o := options{
		namespace:     "shipgate-system",
		lease:         "shipgate-policy-status",
		debounce:      100 * time.Millisecond,
		leaseDuration: 15 * time.Second,
		renewDeadline: 10 * time.Second,
		retryPeriod:   2 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.identity == "" {
		host, _ := os.Hostname()
		o.identity = host + "_" + randomSuffix()
	}
	return o
}
