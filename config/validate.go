package config

import (
	"fmt"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxWebhookTimeout is the API server's limit on an admission webhook's
// timeoutSeconds.
const maxWebhookTimeout = 30 * time.Second

// policySetName is a Rego package path below data.shipgate: "baseline",
// "kubernetes.admission".
var policySetName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// validator collects every problem, each with the field path it is about.
type validator struct {
	errs ErrorList
	// trust holds the trust policy names, for checking bindings' references.
	trust map[string]bool
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the config as Resolve and the server will use it, so it
// expects ApplyDefaults to have run (Load and Parse do both). It returns an
// ErrorList with every problem, each with its field path, or nil.
func (c *GatewayConfig) Validate() error {
	v := &validator{trust: make(map[string]bool)}
	if c.APIVersion != APIVersion {
		v.add("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		v.add("kind", "must be %q, got %q", Kind, c.Kind)
	}
	for i, ns := range c.ExcludedNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			v.add(index("excludedNamespaces", i), "invalid namespace name %q: %s", ns, strings.Join(msgs, "; "))
		}
	}
	// Trust policies first, so that bindings can be checked against them.
	for i := range c.Trust {
		v.trustPolicy(index("trust", i), &c.Trust[i])
	}
	v.binding("defaults", &c.Defaults, true)
	for i := range c.Namespaces {
		v.binding(index("namespaces", i), &c.Namespaces[i], false)
	}
	v.policies(c.Policies)
	v.store(c.Store)
	v.audit(c.Audit)
	v.webhook(c.Webhook)
	v.approvals(c.Approvals)
	v.verification(c.Verification)
	return v.errs.err()
}

// binding checks one namespace binding, or the defaults.
func (v *validator) binding(p string, b *Binding, isDefaults bool) {
	if isDefaults {
		if len(b.Match.Names) > 0 || len(b.Match.Labels) > 0 {
			v.add(p+".match", "not allowed: defaults apply to the namespaces no binding matches")
		}
		if b.Mode == "" {
			v.add(p+".mode", "must be one of enforce, warn, audit, got \"\"")
		}
	}
	for i, pattern := range b.Match.Names {
		q := index(p+".match.names", i)
		if pattern == "" {
			v.add(q, "must not be empty")
		} else if _, err := path.Match(pattern, ""); err != nil {
			v.add(q, "invalid glob %q: %v", pattern, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Match.Labels)) {
		q := key(p+".match.labels", k)
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			v.add(q, "invalid label key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(b.Match.Labels[k]); len(msgs) > 0 {
			v.add(q, "invalid label value %q: %s", b.Match.Labels[k], strings.Join(msgs, "; "))
		}
	}
	switch b.Mode {
	case ModeEnforce, ModeWarn, ModeAudit, "":
	default:
		v.add(p+".mode", "must be one of enforce, warn, audit, got %q", b.Mode)
	}
	for i, name := range b.Trust {
		if !v.trust[name] {
			v.add(index(p+".trust", i), "no trust policy named %q%s", name, v.knownTrust())
		}
	}
	for i, name := range b.Policies {
		if !policySetName.MatchString(name) {
			v.add(index(p+".policies", i), "invalid policy set name %q: must be a dotted Rego package path below data.shipgate, such as \"baseline\" or \"kubernetes.admission\"", name)
		}
	}
	if b.Approval != nil {
		v.approval(p+".approval", b.Approval)
	}
}

// knownTrust lists the trust policy names for a "no trust policy named"
// message.
func (v *validator) knownTrust() string {
	if len(v.trust) == 0 {
		return " (the config has no trust policies)"
	}
	return " (known: " + strings.Join(slices.Sorted(maps.Keys(v.trust)), ", ") + ")"
}

// approval checks an approval rule. approvers may be 0 only when the rule
// is break-glass alone (breakGlassGroups set, groups not); the expiries of
// the routes the rule opens must be positive.
func (v *validator) approval(p string, a *ApprovalRule) {
	breakGlassOnly := len(a.BreakGlassGroups) > 0 && len(a.Groups) == 0
	if a.Approvers < 0 || (a.Approvers == 0 && !breakGlassOnly) {
		v.add(p+".approvers", "must be at least 1 (0 only with breakGlassGroups and no groups), got %d", a.Approvers)
	}
	for i, g := range a.Groups {
		if g == "" {
			v.add(index(p+".groups", i), "must not be empty")
		}
	}
	for i, g := range a.BreakGlassGroups {
		if g == "" {
			v.add(index(p+".breakGlassGroups", i), "must not be empty")
		}
	}
	if a.Approvers > 0 {
		positive(v, p+".expiry.pending", a.Expiry.Pending, "72h")
		positive(v, p+".expiry.approved", a.Expiry.Approved, "24h")
	}
	if len(a.BreakGlassGroups) > 0 {
		positive(v, p+".expiry.breakGlass", a.Expiry.BreakGlass, "1h")
	}
}

// positive requires a duration above zero.
func positive(v *validator, p string, d Duration, example string) {
	if d.Duration <= 0 {
		v.add(p, "must be a positive duration such as %q, got %s", example, d.Duration)
	}
}

// policies checks the network hosts policy may reach: a host name or
// address, never a port, a URL or a wildcard (OPA matches the host alone).
func (v *validator) policies(p PolicySources) {
	for i, h := range p.NetworkHosts {
		if h == "" || strings.ContainsAny(h, "/*?#@: ") && net.ParseIP(h) == nil {
			v.add(index("policies.networkHosts", i), "%q is not a host: give a host name or address without port or scheme, such as vulndb.internal", h)
		}
	}
}

// store checks the database URL without ever echoing it: it may hold a
// password.
func (v *validator) store(s Store) {
	u := s.URL
	switch {
	case u == "":
	case strings.HasPrefix(u, "sqlite://"):
		if u == "sqlite://" {
			v.add("store.url", "sqlite:// needs a file path, such as sqlite:///var/lib/shipgate/shipgate.db")
		}
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
	default:
		got := "no scheme"
		if scheme, _, ok := strings.Cut(u, "://"); ok && !strings.ContainsAny(scheme, "@/") {
			got = "scheme " + strconv.Quote(scheme)
		}
		v.add("store.url", "must start with sqlite://, postgres:// or postgresql://, got %s", got)
	}
}

// audit checks the checkpoint settings and the commit delay.
func (v *validator) audit(a Audit) {
	if a.CheckpointKey != nil {
		v.source("audit.checkpointKey", a.CheckpointKey)
	}
	if a.CheckpointEvery.Records <= 0 {
		v.add("audit.checkpointEvery.records", "must be positive, got %d", a.CheckpointEvery.Records)
	}
	positive(v, "audit.checkpointEvery.interval", a.CheckpointEvery.Interval, "1m")
	if d := a.CommitDelay; d != nil && (d.Duration < 0 || d.Duration > time.Second) {
		v.add("audit.commitDelay", "must be between 0s (off) and 1s, got %s", d.Duration)
	}
}

// webhook checks the deadlines, the load bounds and the controller users.
func (v *validator) webhook(w Webhook) {
	positive(v, "webhook.timeoutMargin", w.TimeoutMargin, "500ms")
	positive(v, "webhook.defaultTimeout", w.DefaultTimeout, "10s")
	if w.DefaultTimeout.Duration > maxWebhookTimeout {
		v.add("webhook.defaultTimeout", "must be at most %s, the API server's limit for admission webhooks, got %s", maxWebhookTimeout, w.DefaultTimeout.Duration)
	}
	if w.TimeoutMargin.Duration > 0 && w.TimeoutMargin.Duration >= w.DefaultTimeout.Duration {
		v.add("webhook.timeoutMargin", "must be less than webhook.defaultTimeout (%s), got %s", w.DefaultTimeout.Duration, w.TimeoutMargin.Duration)
	}
	if w.MaxInFlight <= 0 {
		v.add("webhook.maxInFlight", "must be positive, got %d", w.MaxInFlight)
	}
	if w.MaxRequestsPerConnection <= 0 {
		v.add("webhook.maxRequestsPerConnection", "must be positive, got %d", w.MaxRequestsPerConnection)
	}
	known := DefaultControllers()
	for _, kind := range slices.Sorted(maps.Keys(w.Controllers)) {
		p := key("webhook.controllers", kind)
		if _, ok := known[kind]; !ok {
			v.add(p, "unknown kind %q: must be one of %s", kind, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		for i, user := range w.Controllers[kind] {
			if user == "" {
				v.add(index(p, i), "must not be empty")
			}
		}
	}
}

// index is the path of item i of a sequence.
func index(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

// key is the path of a map entry; the key is quoted as it may hold dots.
func key(p, k string) string { return p + "[" + strconv.Quote(k) + "]" }

// verification checks the registry and cache settings.
func (v *validator) verification(c Verification) {
	positive(v, "verification.registryTimeout", c.RegistryTimeout, "5s")
	positive(v, "verification.cacheTTL", c.CacheTTL, "1h")
	positive(v, "verification.failureTTL", c.FailureTTL, "10s")
	if c.Retries != nil && (*c.Retries < 0 || *c.Retries > 10) {
		v.add("verification.retries", "must be between 0 and 10, got %d", *c.Retries)
	}
	if c.CacheSize <= 0 {
		v.add("verification.cacheSize", "must be positive, got %d", c.CacheSize)
	}
	if c.MaxStale.Duration < 0 {
		v.add("verification.maxStale", "must not be negative, got %s", c.MaxStale.Duration)
	}
}
