package config

import (
	_ "embed"
	"fmt"
	"slices"
	"time"
)

// DefaultExcludedNamespaces are never judged when a config leaves
// excludedNamespaces out: the control plane's namespaces, and
// shipgate-system, where the chart installs shipgate by default (a gate that
// judges its own rollout can lock itself out). Installed in another
// namespace, write excludedNamespaces and name it there.
var DefaultExcludedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "shipgate-system"}

// Defaults for the fields ApplyDefaults fills.
const (
	// DefaultMode is the mode of namespaces no binding matches.
	DefaultMode = ModeEnforce
	// DefaultTimeoutMargin is kept back from the API server's deadline.
	DefaultTimeoutMargin = 500 * time.Millisecond
	// DefaultWebhookTimeout is the API server's own default for a webhook
	// registered without timeoutSeconds.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultMaxInFlight is 256 admissions at once per replica. A judged
	// admission whose verification is cached takes about 0.1 ms of CPU
	// (docs/performance.md), so 256 of them are tens of milliseconds of
	// work on two cores; admissions waiting on a registry or the store take
	// no CPU, and 256 leaves room for a burst of them without letting a
	// queue grow into the API server's 10 s timeout.
	DefaultMaxInFlight = 256
	// DefaultMaxRequestsPerConnection is 1000 requests per connection: one
	// TLS handshake per thousand admissions is a small cost next to the
	// admissions, and at 100 admissions/s an API server's connection moves
	// every 10 s, so a replica that was added or restarted soon gets its
	// share.
	DefaultMaxRequestsPerConnection = 1000
	// DefaultCheckpointRecords and DefaultCheckpointInterval: a signed
	// checkpoint every 1,000 records or every minute, whichever comes first,
	// so at most a minute of log is not yet covered by a signature.
	DefaultCheckpointRecords  = 1000
	DefaultCheckpointInterval = time.Minute
	// DefaultDenialWindow is how long identical denials are folded into
	// one audit record.
	DefaultDenialWindow = time.Minute
	// DefaultCommitDelay is the longest the audit writer holds a batch
	// open for more records when shipgate is short of CPU.
	DefaultCommitDelay = 5 * time.Millisecond
	// Registry access and the verification cache.
	DefaultRegistryTimeout = 5 * time.Second
	DefaultRetries         = 2
	DefaultCacheSize       = 10000
	DefaultCacheTTL        = time.Hour
	DefaultFailureTTL      = 10 * time.Second
)

// controllerManager is kube-controller-manager's own user name, which every
// controller acts as when it runs without --use-service-account-credentials.
const controllerManager = "system:kube-controller-manager"

// DefaultControllers returns, for each workload kind that owns objects, the
// users kube-controller-manager creates those objects as: the controller's
// service account (--use-service-account-credentials, as kubeadm and most
// managed clusters run it) and the controller manager's own user.
// ApplyDefaults fills each kind a config leaves out of webhook.controllers.
func DefaultControllers() map[string][]string {
	sa := func(name string) []string {
		return []string{"system:serviceaccount:kube-system:" + name, controllerManager}
	}
	return map[string][]string{
		"Deployment":  sa("deployment-controller"),
		"ReplicaSet":  sa("replicaset-controller"),
		"StatefulSet": sa("statefulset-controller"),
		"DaemonSet":   sa("daemon-set-controller"),
		"Job":         sa("job-controller"),
		"CronJob":     sa("cronjob-controller"),
	}
}

// ApplyDefaults fills what the file left out. It never overwrites a value
// that is set and may be called more than once. store.url is left alone:
// the server picks its default.
//
// excludedNamespaces is defaulted only when absent: an explicit empty list
// means "judge every namespace". A binding's empty mode, trust, policies and
// approval are not filled here but taken from defaults by Resolve.
func (c *GatewayConfig) ApplyDefaults() {
	if c.ExcludedNamespaces == nil {
		c.ExcludedNamespaces = slices.Clone(DefaultExcludedNamespaces)
	}
	if c.Defaults.Mode == "" {
		c.Defaults.Mode = DefaultMode
	}
	for i := range c.Trust {
		// A threshold left out means one of the listed authorities must
		// sign, not none of them.
		if s := &c.Trust[i].Signatures; s.Threshold == 0 && len(s.Authorities) > 0 {
			s.Threshold = 1
		}
	}
	if c.Webhook.TimeoutMargin.Duration == 0 {
		c.Webhook.TimeoutMargin.Duration = DefaultTimeoutMargin
	}
	if c.Webhook.DefaultTimeout.Duration == 0 {
		c.Webhook.DefaultTimeout.Duration = DefaultWebhookTimeout
	}
	if c.Webhook.MaxInFlight == 0 {
		c.Webhook.MaxInFlight = DefaultMaxInFlight
	}
	if c.Webhook.MaxRequestsPerConnection == 0 {
		c.Webhook.MaxRequestsPerConnection = DefaultMaxRequestsPerConnection
	}
	if c.Webhook.Controllers == nil {
		c.Webhook.Controllers = make(map[string][]string)
	}
	for kind, users := range DefaultControllers() {
		if _, ok := c.Webhook.Controllers[kind]; !ok {
			c.Webhook.Controllers[kind] = users
		}
	}
	if c.Audit.CheckpointEvery.Records == 0 {
		c.Audit.CheckpointEvery.Records = DefaultCheckpointRecords
	}
	if c.Audit.DenialWindow.Duration == 0 {
		c.Audit.DenialWindow.Duration = DefaultDenialWindow
	}
	if c.Audit.CommitDelay == nil {
		c.Audit.CommitDelay = &Duration{DefaultCommitDelay}
	}
	if c.Audit.CheckpointEvery.Interval.Duration == 0 {
		c.Audit.CheckpointEvery.Interval.Duration = DefaultCheckpointInterval
	}
	vf := &c.Verification
	if vf.RegistryTimeout.Duration == 0 {
		vf.RegistryTimeout.Duration = DefaultRegistryTimeout
	}
	if vf.Retries == nil {
		n := DefaultRetries
		vf.Retries = &n
	}
	if vf.CacheSize == 0 {
		vf.CacheSize = DefaultCacheSize
	}
	if vf.CacheTTL.Duration == 0 {
		vf.CacheTTL.Duration = DefaultCacheTTL
	}
	if vf.FailureTTL.Duration == 0 {
		vf.FailureTTL.Duration = DefaultFailureTTL
	}
}

// defaultYAML is the built-in config; see Default.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the built-in config, comments and all, for
// "shipgate demo" to print or write out as a starting point.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Default returns the built-in config (default.yaml in this package), which
// "shipgate demo" runs and "shipgate serve" uses without --config. Each call
// returns a new copy, defaulted, validated and compiled.
func Default() *GatewayConfig {
	c, err := Parse("default.yaml", defaultYAML)
	if err != nil {
		// TestDefault guards against this.
		panic(fmt.Sprintf("config: the embedded default.yaml is invalid: %v", err))
	}
	return c
}
