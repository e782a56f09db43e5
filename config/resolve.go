package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"strings"
)

// Resolved is what a namespace is bound to.
type Resolved struct {
	// Excluded is true for a namespace in excludedNamespaces: allow at once.
	// Index is then -1 and Binding empty.
	Excluded bool
	// Index is the matching binding in Namespaces, or -1 for the defaults.
	Index int
	// Binding is the effective binding: the mode, trust, policies and
	// approval the matching binding leaves empty are those of defaults.
	// Its slices and approval are shared with the config: read only.
	Binding Binding
}

// Resolve returns the binding for a namespace with the given labels. The
// first binding whose match holds wins; a match with names and labels needs
// both; an empty match holds for every namespace.
//
// Resolve runs on every admission: on a compiled config (Load, Parse and
// Default compile theirs) it is a loop over precompiled matchers and does not
// allocate. On a config never compiled it still answers correctly, but
// compiles on each call.
func (c *GatewayConfig) Resolve(namespace string, labels map[string]string) Resolved {
	r := c.resolver
	if r == nil {
		r = newResolver(c)
	}
	if _, ok := r.excluded[namespace]; ok {
		return Resolved{Excluded: true, Index: -1}
	}
	for i := range r.matchers {
		if r.match(i, namespace, labels) {
			return Resolved{Index: i, Binding: r.effective[i]}
		}
	}
	return Resolved{Index: -1, Binding: r.defaults}
}

// Compile precomputes what Resolve and Revision need. Load, Parse and
// Default call it; call it again after changing a config in Go, and before
// sharing the config between goroutines. It does not validate.
func (c *GatewayConfig) Compile() {
	r := newResolver(c)
	r.revision = revision(c)
	c.resolver = r
}

// Revision is a short hash of the config's canonical JSON form. Equal
// configs have equal revisions however their files were written (comments,
// key order, defaults spelled out or not), so reloads can be logged and
// caches keyed by it. A compiled config answers with the revision it had
// when compiled.
func (c *GatewayConfig) Revision() string {
	if c.resolver != nil {
		return c.resolver.revision
	}
	return revision(c)
}

// revision hashes the JSON form: struct fields in declaration order and map
// keys sorted make it canonical. 16 hex digits (64 bits) name a revision
// among a cluster's handful of configs with no practical chance of collision.
func revision(c *GatewayConfig) string {
	b, err := json.Marshal(c)
	if err != nil {
		// Every field marshals; a failure is a bug in this package.
		panic("config: marshalling config for its revision: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// resolver is a config compiled for Resolve: every binding's patterns and
// labels sit in two flat slices, so the loop over bindings reads memory in
// order.
type resolver struct {
	excluded  map[string]struct{}
	matchers  []matcher
	globs     []glob
	labels    []labelPair
	effective []Binding
	defaults  Binding
	revision  string // set by Compile only
}

// matcher is a compiled Match: the ranges of its globs (any may match;
// none means any name) and labels (all must match) in the resolver's slices.
type matcher struct {
	globsFrom, globsTo   int32
	labelsFrom, labelsTo int32
}

type labelPair struct{ key, value string }

func newResolver(c *GatewayConfig) *resolver {
	r := &resolver{
		excluded:  make(map[string]struct{}, len(c.ExcludedNamespaces)),
		matchers:  make([]matcher, len(c.Namespaces)),
		effective: make([]Binding, len(c.Namespaces)),
		defaults:  c.Defaults,
	}
	for _, ns := range c.ExcludedNamespaces {
		r.excluded[ns] = struct{}{}
	}
	for i, b := range c.Namespaces {
		m := &r.matchers[i]
		m.globsFrom = int32(len(r.globs))
		for _, p := range b.Match.Names {
			r.globs = append(r.globs, newGlob(p))
		}
		m.globsTo = int32(len(r.globs))
		m.labelsFrom = int32(len(r.labels))
		for k, v := range b.Match.Labels {
			r.labels = append(r.labels, labelPair{k, v})
		}
		m.labelsTo = int32(len(r.labels))
		r.effective[i] = inherit(b, c.Defaults)
	}
	return r
}

// match reports whether binding i's match holds.
func (r *resolver) match(i int, namespace string, labels map[string]string) bool {
	m := &r.matchers[i]
	if m.globsFrom < m.globsTo {
		found := false
		for k := m.globsFrom; k < m.globsTo; k++ {
			if r.globs[k].match(namespace) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, l := range r.labels[m.labelsFrom:m.labelsTo] {
		if v, ok := labels[l.key]; !ok || v != l.value {
			return false
		}
	}
	return true
}

// inherit fills what b leaves empty from the defaults.
func inherit(b, d Binding) Binding {
	if b.Mode == "" {
		b.Mode = d.Mode
	}
	if len(b.Trust) == 0 {
		b.Trust = d.Trust
	}
	if len(b.Policies) == 0 {
		b.Policies = d.Policies
	}
	if b.Approval == nil {
		b.Approval = d.Approval
	}
	return b
}

// globKind sorts patterns so the common ones skip path.Match.
type globKind uint8

const (
	globExact  globKind = iota // no metacharacters
	globPrefix                 // "prod-*"
	globSuffix                 // "*-prod"
	globPath                   // anything else, through path.Match
)

// glob is a compiled path.Match pattern; it matches exactly the names
// path.Match(pattern, name) does.
type glob struct {
	kind globKind
	s    string // the name, prefix, suffix or whole pattern
}

const globMeta = `*?[\`

func newGlob(p string) glob {
	i := strings.IndexAny(p, globMeta)
	switch {
	case i < 0:
		return glob{globExact, p}
	case i == len(p)-1 && p[i] == '*':
		return glob{globPrefix, p[:i]}
	case i == 0 && p[0] == '*' && !strings.ContainsAny(p[1:], globMeta):
		return glob{globSuffix, p[1:]}
	default:
		return glob{globPath, p}
	}
}

func (g *glob) match(name string) bool {
	switch g.kind {
	case globExact:
		return name == g.s
	case globPrefix:
		// path.Match's '*' does not cross '/'.
		return strings.HasPrefix(name, g.s) && strings.IndexByte(name[len(g.s):], '/') < 0
	case globSuffix:
		return strings.HasSuffix(name, g.s) && strings.IndexByte(name[:len(name)-len(g.s)], '/') < 0
	default:
		ok, _ := path.Match(g.s, name)
		return ok
	}
}
