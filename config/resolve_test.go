package config

import (
	"fmt"
	"path"
	"slices"
	"testing"
)

func resolveConfig(t testing.TB) *GatewayConfig {
	t.Helper()
	c, err := Parse("resolve.yaml", []byte(`
apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
excludedNamespaces: [kube-system, shipgate-system]
defaults:
  mode: enforce
  trust: [company]
  policies: [baseline]
  approval: {approvers: 1, expiry: {pending: 1h, approved: 1h}}
namespaces:
- match: {names: ["prod-*"], labels: {env: prod}}
  policies: [baseline, production]
  approval: {approvers: 2, expiry: {pending: 72h, approved: 24h}}
- match: {names: ["prod-*", "*-critical"]}
  mode: warn
- match: {labels: {team: payments}}
  mode: audit
  trust: [vendor]
- match: {names: ["ci-[0-9]*"]}
  mode: audit
- match: {names: [qa]}
  mode: warn
- match: {}
  mode: enforce
  policies: [catch.all]
trust:
- {name: company, images: ["registry.example.com/**"]}
- {name: vendor, images: ["vendor.example.com/**"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolve(t *testing.T) {
	t.Parallel()
	c := resolveConfig(t)
	tests := map[string]struct {
		namespace string
		labels    map[string]string
		excluded  bool
		index     int
		mode      Mode
		trust     []string
		policies  []string
		approvers int
	}{
		"an excluded namespace is excluded whatever its labels": {
			namespace: "kube-system", labels: map[string]string{"env": "prod"}, excluded: true, index: -1,
		},
		"names and labels both match": {
			namespace: "prod-api", labels: map[string]string{"env": "prod"},
			index: 0, mode: ModeEnforce, trust: []string{"company"}, policies: []string{"baseline", "production"}, approvers: 2,
		},
		"names without the label fall through to the next binding": {
			namespace: "prod-api", labels: map[string]string{"env": "staging"},
			index: 1, mode: ModeWarn, trust: []string{"company"}, policies: []string{"baseline"}, approvers: 1,
		},
		"the second name pattern of a binding": {
			namespace: "db-critical", index: 1, mode: ModeWarn, trust: []string{"company"}, policies: []string{"baseline"}, approvers: 1,
		},
		"labels alone": {
			namespace: "billing", labels: map[string]string{"team": "payments", "x": "y"},
			index: 2, mode: ModeAudit, trust: []string{"vendor"}, policies: []string{"baseline"}, approvers: 1,
		},
		"a character class glob": {
			namespace: "ci-42", index: 3, mode: ModeAudit, trust: []string{"company"}, policies: []string{"baseline"}, approvers: 1,
		},
		"a character class glob that does not match": {
			namespace: "ci-x", index: 5, mode: ModeEnforce, trust: []string{"company"}, policies: []string{"catch.all"}, approvers: 1,
		},
		"an exact name": {
			namespace: "qa", index: 4, mode: ModeWarn, trust: []string{"company"}, policies: []string{"baseline"}, approvers: 1,
		},
		"an exact name does not match a longer one": {
			namespace: "qa-2", index: 5, mode: ModeEnforce, trust: []string{"company"}, policies: []string{"catch.all"}, approvers: 1,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := c.Resolve(tt.namespace, tt.labels)
			if r.Excluded != tt.excluded || r.Index != tt.index {
				t.Fatalf("Resolve(%q) = excluded %v index %d, want %v %d", tt.namespace, r.Excluded, r.Index, tt.excluded, tt.index)
			}
			if tt.excluded {
				return
			}
			b := r.Binding
			approvers := 0
			if b.Approval != nil {
				approvers = b.Approval.Approvers
			}
			if b.Mode != tt.mode || !slices.Equal(b.Trust, tt.trust) || !slices.Equal(b.Policies, tt.policies) || approvers != tt.approvers {
				t.Errorf("binding = mode %q trust %v policies %v approvers %d, want %q %v %v %d",
					b.Mode, b.Trust, b.Policies, approvers, tt.mode, tt.trust, tt.policies, tt.approvers)
			}
		})
	}
}

func TestResolveNoBindingGivesDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	r := c.Resolve("payments", nil)
	if r.Index != -1 || r.Excluded || r.Binding.Mode != ModeEnforce {
		t.Errorf("Resolve = %+v, want the defaults (index -1, enforce)", r)
	}
}

func TestResolveUncompiled(t *testing.T) {
	t.Parallel()
	c := resolveConfig(t)
	// A config built or changed in Go without Compile still resolves right.
	c.Namespaces = append([]Binding{{Match: Match{Names: []string{"new"}}, Mode: ModeAudit}}, c.Namespaces...)
	c.resolver = nil
	if r := c.Resolve("new", nil); r.Index != 0 || r.Binding.Mode != ModeAudit {
		t.Errorf("Resolve on an uncompiled config = %+v", r)
	}
}

func TestResolveDoesNotAllocate(t *testing.T) {
	c := resolveConfig(t)
	labels := map[string]string{"team": "payments"}
	allocs := testing.AllocsPerRun(100, func() {
		c.Resolve("ci-x", labels)
		c.Resolve("billing", labels)
		c.Resolve("kube-system", nil)
	})
	if allocs != 0 {
		t.Errorf("Resolve allocates %v times per call set, want 0", allocs)
	}
}

// FuzzGlob checks that the compiled fast paths agree with path.Match.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"prod-*", "prod-api"}, {"prod-*", "prod-a/b"}, {"*-prod", "x-prod"}, {"*-prod", "a/x-prod"},
		{"*", ""}, {"qa", "qa"}, {"ci-[0-9]*", "ci-1"}, {"a?c", "abc"}, {`\*`, "*"}, {"**", "ab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		want, err := path.Match(pattern, name)
		if err != nil {
			want = false
		}
		g := newGlob(pattern)
		if got := g.match(name); got != want {
			t.Errorf("glob %q matching %q = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}

func TestRevision(t *testing.T) {
	t.Parallel()
	parse := func(s string) string {
		t.Helper()
		c, err := Parse("r.yaml", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c.Revision()
	}
	base := parse("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: warn}\n")
	same := parse("# a comment\nkind: GatewayConfig\ndefaults:\n  mode: warn\napiVersion: shipgate.dev/v1alpha1\nwebhook: {timeoutMargin: 500ms}\n")
	other := parse("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: audit}\n")
	if base != same {
		t.Errorf("comments, key order and spelled-out defaults changed the revision: %s vs %s", base, same)
	}
	if base == other {
		t.Errorf("a different mode kept the revision %s", base)
	}
	if len(base) != 16 {
		t.Errorf("revision %q, want 16 hex digits", base)
	}
	c := Default()
	compiled := c.Revision()
	c.resolver = nil
	if c.Revision() != compiled {
		t.Errorf("uncompiled revision differs from the compiled one")
	}
}

// BenchmarkResolve resolves against 1,000 bindings, the namespace matching
// the last one (the worst case short of none).
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{10, 1000} {
		c := &GatewayConfig{APIVersion: APIVersion, Kind: Kind}
		for i := range n {
			c.Namespaces = append(c.Namespaces, Binding{
				Match: Match{Names: []string{fmt.Sprintf("team-%04d-*", i)}, Labels: map[string]string{"tier": "web"}},
				Mode:  ModeWarn,
			})
		}
		c.ApplyDefaults()
		c.Compile()
		ns := fmt.Sprintf("team-%04d-api", n-1)
		labels := map[string]string{"tier": "web", "team": "x"}
		b.Run(fmt.Sprintf("bindings=%d/last", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := c.Resolve(ns, labels); r.Index != n-1 {
					b.Fatalf("index %d", r.Index)
				}
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/excluded", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Resolve("kube-system", nil)
			}
		})
	}
}
