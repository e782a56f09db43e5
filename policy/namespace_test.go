package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// clusterDenyingLatest denies ":latest" and asks two release managers to
// approve every Pod.
var clusterDenyingLatest = bundleOf(map[string]string{"production.rego": `package shipgate.production

deny contains sprintf("image %s uses latest", [img]) if {
	some c in input.request.object.spec.containers
	img := c.image
	endswith(img, ":latest")
}

require_approval := {"approvers": 2, "groups": ["release-managers"], "reason": "production"}

allow := count(deny) == 0
`})

func TestNamespacePolicyOnlyTightens(t *testing.T) {
	t.Parallel()
	const ns = "team-a"
	tests := map[string]struct {
		module   string
		wantDeny []string
		wantWarn []string
		wantAppr int
	}{
		"adds a deny and a warn": {
			module: `deny contains "team-a wants a team label" if not input.request.object.metadata.labels.team
warn contains "team-a: think twice"`,
			wantDeny: []string{"production: image app:latest uses latest", "shipgate.namespaces.team-a: team-a wants a team label"},
			wantWarn: []string{"shipgate.namespaces.team-a: team-a: think twice"},
			wantAppr: 1,
		},
		"adds an approval requirement": {
			module:   `require_approval := {"approvers": 1, "groups": ["team-a-leads"], "reason": "team rule"}`,
			wantDeny: []string{"production: image app:latest uses latest"},
			wantAppr: 2,
		},
		// Everything a namespace could write to "allow" or to empty the
		// outputs: its own rules, in its own package. None of it reaches
		// the cluster's deny or approval.
		"tries to allow what cluster policy denies": {
			module: `allow := true
default deny := set()
deny := set()
require_approval := []
exempt := true`,
			wantDeny: []string{"production: image app:latest uses latest"},
			wantAppr: 1,
		},
		// Rules with the cluster's rule names, in a package whose path ends
		// like the cluster's: data.shipgate.namespaces["team-a"].shipgate.production
		// is not data.shipgate.production.
		"redefines cluster rules under its own root": {
			module: `shipgate.production.deny := set()
shipgate.production.require_approval := {}`,
			wantDeny: []string{"production: image app:latest uses latest"},
			wantAppr: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nsb := bundleOf(map[string]string{"ns.rego": "package shipgate.namespaces[\"team-a\"]\n\n" + tc.module + "\n"})
			e := mustEngine(t, clusterDenyingLatest, map[string]*Bundle{ns: nsb})
			res, err := e.Evaluate(t.Context(), ns, []string{"production"}, podReview(ns, "app:latest"))
			if err != nil {
				t.Fatal(err)
			}
			if got := msgs(res.Deny); !slices.Equal(got, tc.wantDeny) {
				t.Errorf("deny = %q, want %q", got, tc.wantDeny)
			}
			if got := msgs(res.Warn); !slices.Equal(got, orEmpty(tc.wantWarn)) {
				t.Errorf("warn = %q, want %q", got, tc.wantWarn)
			}
			if len(res.RequireApproval) != tc.wantAppr || res.RequireApproval[0].Set != "production" || res.RequireApproval[0].Approvers != 2 {
				t.Errorf("require_approval = %+v, want the cluster's 2 release managers first, %d in all", res.RequireApproval, tc.wantAppr)
			}
			if !strings.Contains(res.Revision, "+") {
				t.Errorf("revision %q does not name the namespace policy", res.Revision)
			}
			// Another namespace is not affected by team-a's policy.
			other, err := e.Evaluate(t.Context(), "team-b", []string{"production"}, podReview("team-b", "app:latest"))
			if err != nil {
				t.Fatal(err)
			}
			if len(other.Deny) != 1 || len(other.Warn) != 0 || len(other.RequireApproval) != 1 || strings.Contains(other.Revision, "+") {
				t.Errorf("team-b got %+v: team-a's policy leaked", other)
			}
		})
	}
}

func TestNamespacePolicyRefused(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		line int
		want string
	}{
		"declares the cluster's package to redefine its rules": {
			src:  "package shipgate.production\n\ndeny := set()\n",
			line: 1, want: `package data.shipgate.production is refused: the policy of namespace team-a must be in package data.shipgate.namespaces["team-a"] or below it`,
		},
		"declares another package": {
			src:  "package kubernetes.admission\n\ndeny contains \"x\"\n",
			line: 1, want: "package data.kubernetes.admission is refused",
		},
		"declares another namespace's package": {
			src:  "package shipgate.namespaces[\"team-b\"]\n\ndeny contains \"x\"\n",
			line: 1, want: `package data.shipgate.namespaces["team-b"] is refused`,
		},
		"declares a package that only starts like its own": {
			src:  "package shipgate.namespaces[\"team-ab\"]\n",
			line: 1, want: "is refused",
		},
		"reads a cluster rule": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\ndeny contains m if {\n\tsome m in data.shipgate.production.deny\n}\n",
			line: 4, want: "data.shipgate.production.deny is refused: the policy of namespace team-a may read only data below",
		},
		"imports a cluster package": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\nimport data.shipgate.production\n\ndeny contains \"x\" if production.allow\n",
			line: 3, want: "data.shipgate.production is refused",
		},
		"reads the whole of data": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\nwarn contains sprintf(\"%v\", [data])\n",
			line: 3, want: "data is refused",
		},
		"hides a cluster reference in a dynamic part": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\nwarn contains x if x := data.shipgate.namespaces[\"team-a\"][data.shipgate.production.name]\n",
			line: 3, want: "data.shipgate.production.name is refused",
		},
		"mocks a cluster rule with with": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\nwarn contains \"x\" if {\n\ttrue with data.shipgate.production.deny as set()\n}\n",
			line: 4, want: "data.shipgate.production.deny is refused",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(clusterDenyingLatest, map[string]*Bundle{"team-a": bundleOf(map[string]string{"cm/team-a/policy.rego": tc.src})})
			var nse NamespaceErrors
			if !errors.As(err, &nse) || nse["team-a"] == nil {
				t.Fatalf("New error = %v, want NamespaceErrors for team-a", err)
			}
			compileErrorAt(t, err, "cm/team-a/policy.rego", tc.line, tc.want)
			if !strings.Contains(err.Error(), "namespace team-a") {
				t.Errorf("error %q does not name the namespace", err)
			}
		})
	}
}

func TestNamespaceData(t *testing.T) {
	t.Parallel()
	nsb := bundleOf(map[string]string{"ns.rego": `package shipgate.namespaces["team-a"]

deny contains sprintf("registry %s is not one of team-a's", [img]) if {
	some c in input.request.object.spec.containers
	img := c.image
	not startswith(img, data.shipgate.namespaces["team-a"].registry)
}
`})
	if err := nsb.AddDataFile("data.yaml", "", []byte("registry: registry.team-a.example/\n")); err != nil {
		t.Fatal(err)
	}
	// The cluster's data has the same key at the root; the namespace must
	// see its own.
	cluster := bundleOf(map[string]string{"p.rego": "package shipgate.p\n"})
	if err := cluster.AddDataFile("data.json", "", []byte(`{"registry": "evil.example/"}`)); err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, cluster, map[string]*Bundle{"team-a": nsb})
	for img, want := range map[string]int{"registry.team-a.example/app:1": 0, "evil.example/app:1": 1} {
		res, err := e.Evaluate(t.Context(), "team-a", []string{"p"}, podReview("team-a", img))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deny) != want {
			t.Errorf("%s: deny = %q, want %d", img, msgs(res.Deny), want)
		}
	}
}

func TestNamespaceSyntaxErrorIsolated(t *testing.T) {
	t.Parallel()
	good := func(ns, msg string) *Bundle {
		return bundleOf(map[string]string{ns + "/policy.rego": "package shipgate.namespaces[\"" + ns + "\"]\n\ndeny contains \"" + msg + "\"\n"})
	}
	broken := func(ns string) *Bundle {
		return bundleOf(map[string]string{ns + "/policy.rego": "package shipgate.namespaces[\"" + ns + "\"]\n\ndeny contains \"x\" if {\n\tinput.a ==\n}\n"})
	}
	e := mustEngine(t, clusterDenyingLatest, map[string]*Bundle{"a": good("a", "a v1"), "b": good("b", "b v1")})
	err := e.Update(clusterDenyingLatest, map[string]*Bundle{
		"a": broken("a"),       // had a policy: keeps it
		"b": good("b", "b v2"), // updates
		"c": broken("c"),       // never had one: fails closed
		"d": good("d", "d v1"), // new
	})
	var nse NamespaceErrors
	if !errors.As(err, &nse) || len(nse) != 2 || nse["a"] == nil || nse["c"] == nil {
		t.Fatalf("Update error = %v, want NamespaceErrors for a and c", err)
	}
	compileErrorAt(t, nse["a"], "a/policy.rego", 5, "rego_parse_error")
	compileErrorAt(t, nse["c"], "c/policy.rego", 5, "rego_parse_error")

	tests := map[string]struct {
		ns       string
		wantDeny string
		wantErr  bool
	}{
		"a keeps its last good policy": {ns: "a", wantDeny: "a v1"},
		"b took its update":            {ns: "b", wantDeny: "b v2"},
		"c fails closed":               {ns: "c", wantErr: true},
		"d is new":                     {ns: "d", wantDeny: "d v1"},
		"e has no policy of its own":   {ns: "e"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := e.Evaluate(t.Context(), tc.ns, []string{"production"}, podReview(tc.ns, "app:1.0"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Evaluate error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "c/policy.rego:5") {
					t.Errorf("error %q does not carry file:line", err)
				}
				return
			}
			want := []string{}
			if tc.wantDeny != "" {
				want = []string{"shipgate.namespaces." + tc.ns + ": " + tc.wantDeny}
			}
			if got := msgs(res.Deny); !slices.Equal(got, want) {
				t.Errorf("deny = %q, want %q", got, want)
			}
		})
	}

	// Fixing a namespace clears its error; dropping it drops its policy.
	if err := e.Update(clusterDenyingLatest, map[string]*Bundle{"a": good("a", "a v2"), "c": good("c", "c v1")}); err != nil {
		t.Fatalf("Update after the fix: %v", err)
	}
	for ns, want := range map[string]int{"a": 1, "c": 1, "b": 0, "d": 0} {
		res, err := e.Evaluate(t.Context(), ns, nil, podReview(ns, "app:1.0"))
		if err != nil || len(res.Deny) != want {
			t.Errorf("namespace %s after the fix: %q, %v; want %d denials", ns, msgs(res.Deny), err, want)
		}
	}
}

func TestUpdateReusesUnchangedBundles(t *testing.T) {
	t.Parallel()
	nsb := bundleOf(map[string]string{"ns.rego": "package shipgate.namespaces.a\n"})
	e := mustEngine(t, clusterDenyingLatest, map[string]*Bundle{"a": nsb})
	before := e.rev.Load()
	// Equal content in new Bundle values: nothing is compiled again.
	if err := e.Update(bundleOf(map[string]string{"production.rego": clusterDenyingLatest.Modules["production.rego"].Source}),
		map[string]*Bundle{"a": bundleOf(map[string]string{"ns.rego": "package shipgate.namespaces.a\n"})}); err != nil {
		t.Fatal(err)
	}
	after := e.rev.Load()
	if after == before || after.cluster != before.cluster || after.namespaces["a"] != before.namespaces["a"] {
		t.Error("Update compiled unchanged bundles again")
	}
}
