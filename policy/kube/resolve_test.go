package kube

import (
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/policy"
)

// teamA is a namespace policy: team-a allows at most 3 replicas.
const teamA = `package shipgate.namespaces["team-a"]

deny contains "team-a: at most 3 replicas" if input.request.object.spec.replicas > 3
`

var labelled = map[string]string{"team": "a"}

// TestClusterConfigMapsMergeWithDirectory: ConfigMaps in shipgate's
// namespace add to the directory's packages and data, and their status
// names the cluster revision decisions carry.
func TestClusterConfigMapsMergeWithDirectory(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap(clusterNS, "registries", map[string]string{
		"registries.rego": `package shipgate.baseline

deny contains "too many replicas for the cluster" if input.request.object.spec.replicas > data.limits.replicas
`,
		"data.yaml": "limits: {replicas: 10}\n",
	}))
	l.setConfigMap(configMap(clusterNS, "production", map[string]string{"production.rego": `package shipgate.production

deny contains "production needs an owner" if not input.request.object.metadata.labels.owner
`}))
	keys := reload(t, l)
	if !slices.Equal(slices.Sorted(slices.Values(keys)), []string{clusterNS + "/production", clusterNS + "/registries"}) {
		t.Errorf("reload keys = %q", keys)
	}
	want := []string{"baseline: needs a team label", "baseline: too many replicas for the cluster", "production: production needs an owner"}
	if got := denies(t, e, "team-b", nil, 11, "baseline", "production"); !slices.Equal(got, want) {
		t.Errorf("deny = %q, want %q", got, want)
	}
	for _, key := range keys {
		wantStatus(t, key, statusOf(t, l, key), "loaded: cluster revision "+e.Revision())
	}
	if !slices.Contains(e.Sets(), "production") {
		t.Errorf("sets %q lack production", e.Sets())
	}
}

// TestClusterConfigMapClash: a cluster ConfigMap that sets data the
// directory sets, or redefines a directory rule, is refused on its own
// status; the directory and the other ConfigMaps keep working.
func TestClusterConfigMapClash(t *testing.T) {
	t.Parallel()
	dir := baselineDir
	tests := map[string]struct {
		data map[string]string
		want []string
	}{
		"data the other sets": {
			data: map[string]string{"data.json": `{"limits": {"replicas": 3}}`},
			want: []string{"error: data.json: data.limits.replicas is set twice"},
		},
		"a rule the directory defines": {
			data: map[string]string{"baseline.rego": "package shipgate.baseline\n\ndeny := set()\n"},
			want: []string{"error: ", "conflicting rules data.shipgate.baseline.deny", "; not in force"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, e := newTestLoader(t, dir)
			l.setConfigMap(configMap(clusterNS, "limits", map[string]string{"data.json": `{"limits": {"replicas": 4}}`}))
			reload(t, l)
			l.setConfigMap(configMap(clusterNS, "clash", tc.data))
			l.setConfigMap(configMap(clusterNS, "fine", map[string]string{"fine.rego": "package shipgate.fine\n\nwarn contains \"fine\"\n"}))
			reload(t, l)
			wantStatus(t, "clash", statusOf(t, l, clusterNS+"/clash"), tc.want[0], tc.want[1:]...)
			wantStatus(t, "limits", statusOf(t, l, clusterNS+"/limits"), "loaded: ")
			wantStatus(t, "fine", statusOf(t, l, clusterNS+"/fine"), "loaded: cluster revision "+e.Revision())
			if got := denies(t, e, "team-b", nil, 1); !slices.Equal(got, []string{"baseline: needs a team label"}) {
				t.Errorf("deny = %q: the directory's policy is not in force", got)
			}
		})
	}
}

// TestNamespacePolicyTightensOnly: a namespace ConfigMap adds a deny to
// its own namespace; every attempt to loosen, to reach the cluster's rules
// or another namespace is refused on its status, and changes nothing.
func TestNamespacePolicyTightensOnly(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		want string
	}{
		"declares the cluster's package to empty its deny": {
			src:  "package shipgate.baseline\n\ndeny := set()\n",
			want: `error: sneaky.rego:1: rego_compile_error: package data.shipgate.baseline is refused: the policy of namespace team-a must be in package data.shipgate.namespaces["team-a"] or below it; not in force`,
		},
		"declares another package": {
			src:  "package kubernetes.admission\n\ndeny contains \"x\"\n",
			want: "error: sneaky.rego:1: rego_compile_error: package data.kubernetes.admission is refused",
		},
		"declares another namespace's package": {
			src:  "package shipgate.namespaces[\"team-b\"]\n\ndeny contains \"from team-a\"\n",
			want: `error: sneaky.rego:1: rego_compile_error: package data.shipgate.namespaces["team-b"] is refused`,
		},
		"reads a cluster rule": {
			src:  "package shipgate.namespaces[\"team-a\"].sneaky\n\nimport data.shipgate.baseline\n\nallow if count(baseline.deny) == 0\n",
			want: "error: sneaky.rego:3: rego_compile_error: data.shipgate.baseline is refused: the policy of namespace team-a may read only data below",
		},
		"redefines its own deny to be empty": {
			src:  "package shipgate.namespaces[\"team-a\"]\n\ndeny := set()\n",
			want: `error: does not compile with ConfigMap team-a/limits: limits.rego:3: rego_type_error: conflicting rules data.shipgate.namespaces["team-a"].deny found; not in force`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, e := newTestLoader(t, baselineDir)
			l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
			reload(t, l)
			l.setConfigMap(configMap("team-a", "sneaky", map[string]string{"sneaky.rego": tc.src}))
			reload(t, l)
			wantStatus(t, "sneaky", statusOf(t, l, "team-a/sneaky"), tc.want)
			wantStatus(t, "limits", statusOf(t, l, "team-a/limits"), "loaded: namespace revision ")

			want := []string{"baseline: needs a team label", `shipgate.namespaces.team-a: team-a: at most 3 replicas`}
			if got := denies(t, e, "team-a", nil, 5); !slices.Equal(got, want) {
				t.Errorf("team-a deny = %q, want %q", got, want)
			}
			if got := denies(t, e, "team-b", nil, 5); !slices.Equal(got, want[:1]) {
				t.Errorf("team-b deny = %q, want only the cluster's", got)
			}
		})
	}
}

// TestNamespaceAllowChangesNothing: "allow" or an empty deny of its own
// is a namespace's own business; it compiles, and the cluster still
// denies. Nothing a namespace writes is subtracted.
func TestNamespaceAllowChangesNothing(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "allow", map[string]string{"allow.rego": `package shipgate.namespaces["team-a"]

allow := true
default deny := set()
require_approval := []
`}))
	reload(t, l)
	wantStatus(t, "allow", statusOf(t, l, "team-a/allow"), "loaded: ")
	if got := denies(t, e, "team-a", nil, 1); !slices.Equal(got, []string{"baseline: needs a team label"}) {
		t.Errorf("deny = %q: the cluster's denial is gone", got)
	}
}

// TestSyntaxErrorLeavesOthersWorking: a broken ConfigMap, cluster or
// namespace, shows key and line in its status; every other ConfigMap,
// in the same namespace too, loads.
func TestSyntaxErrorLeavesOthersWorking(t *testing.T) {
	t.Parallel()
	broken := "package shipgate.namespaces[\"team-a\"]\n\ndeny contains x if { x := }\n"
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	l.setConfigMap(configMap("team-a", "broken", map[string]string{"ok.rego": "package shipgate.namespaces[\"team-a\"]\n", "broken.rego": broken}))
	l.setConfigMap(configMap(clusterNS, "broken", map[string]string{"cluster.rego": "package shipgate.extra\n\ndeny contains x if { x := }\n"}))
	l.setConfigMap(configMap(clusterNS, "extra", map[string]string{"extra.rego": "package shipgate.extra\n\nwarn contains \"extra\"\n"}))
	l.setConfigMap(configMap("team-b", "fine", map[string]string{"fine.rego": "package shipgate.namespaces[\"team-b\"]\n\ndeny contains \"team-b rule\"\n"}))
	reload(t, l)

	wantStatus(t, "team-a/broken", statusOf(t, l, "team-a/broken"), "error: broken.rego:3: rego_parse_error: ", "; not in force")
	wantStatus(t, "cluster broken", statusOf(t, l, clusterNS+"/broken"), "error: cluster.rego:3: rego_parse_error: ")
	for _, key := range []string{"team-a/limits", clusterNS + "/extra", "team-b/fine"} {
		wantStatus(t, key, statusOf(t, l, key), "loaded: ")
	}
	if got := denies(t, e, "team-a", labelled, 5); !slices.Equal(got, []string{"shipgate.namespaces.team-a: team-a: at most 3 replicas"}) {
		t.Errorf("team-a deny = %q", got)
	}
	if got := denies(t, e, "team-b", labelled, 1); !slices.Equal(got, []string{"shipgate.namespaces.team-b: team-b rule"}) {
		t.Errorf("team-b deny = %q", got)
	}
	res, err := e.Evaluate(t.Context(), "team-c", []string{"extra"}, deployment("team-c", labelled, 1))
	if err != nil || len(res.Warn) != 1 {
		t.Errorf("cluster set extra: %+v, %v", res, err)
	}
}

// TestBrokenEditKeepsLastGood: an edit that does not compile leaves the
// version that did in force, and says so; fixing it loads the fix.
func TestBrokenEditKeepsLastGood(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	reload(t, l)
	loaded := statusOf(t, l, "team-a/limits")

	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": strings.Replace(teamA, "> 3", "> ;", 1)}))
	reload(t, l)
	wantStatus(t, "edit", statusOf(t, l, "team-a/limits"), "error: limits.rego:3: rego_parse_error", "the version that loaded last stays in force")
	if got := denies(t, e, "team-a", labelled, 5); !slices.Equal(got, []string{"shipgate.namespaces.team-a: team-a: at most 3 replicas"}) {
		t.Errorf("after a broken edit, deny = %q: the last good version is not in force", got)
	}

	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": strings.Replace(teamA, "at most 3 replicas", "no more than 3 replicas", 1)}))
	reload(t, l)
	fixed := statusOf(t, l, "team-a/limits")
	wantStatus(t, "fix", fixed, "loaded: namespace revision ")
	if fixed == loaded {
		t.Errorf("the status %q did not change with the content", fixed)
	}
	if got := denies(t, e, "team-a", labelled, 5); !slices.Equal(got, []string{"shipgate.namespaces.team-a: team-a: no more than 3 replicas"}) {
		t.Errorf("after the fix, deny = %q", got)
	}
}

// TestStatusNamesOwnRevision: a namespace ConfigMap's status names its
// namespace's revision, the "+" part of the decisions' revision, and does
// not change when cluster policy or another namespace changes.
func TestStatusNamesOwnRevision(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	reload(t, l)
	before := statusOf(t, l, "team-a/limits")
	res, err := e.Evaluate(t.Context(), "team-a", []string{"baseline"}, deployment("team-a", nil, 1))
	if err != nil {
		t.Fatal(err)
	}
	_, nsRev, _ := strings.Cut(res.Revision, "+")
	if before != "loaded: namespace revision "+nsRev {
		t.Errorf("status %q does not name the revision decisions carry, %s", before, res.Revision)
	}

	l.setConfigMap(configMap(clusterNS, "more", map[string]string{"more.rego": "package shipgate.more\n\nwarn contains \"w\"\n"}))
	l.setConfigMap(configMap("team-b", "fine", map[string]string{"fine.rego": "package shipgate.namespaces[\"team-b\"]\n\nwarn contains \"w\"\n"}))
	keys := reload(t, l)
	if slices.Contains(keys, "team-a/limits") {
		t.Errorf("reload looked at team-a's status again: %q", keys)
	}
	if after := statusOf(t, l, "team-a/limits"); after != before {
		t.Errorf("status changed from %q to %q without a change in team-a", before, after)
	}
}

// TestRegoVersionAnnotation: v0 modules load beside v1 modules; the
// annotation decides for the whole ConfigMap.
func TestRegoVersionAnnotation(t *testing.T) {
	t.Parallel()
	v0 := `package shipgate.namespaces["team-a"]

deny[msg] {
	input.request.object.spec.replicas > 3
	msg := "v0: at most 3 replicas"
}
`
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "v0", map[string]string{"v0.rego": v0}, AnnotationRegoVersion, "v0"))
	l.setConfigMap(configMap("team-a", "v1", map[string]string{"v1.rego": strings.Replace(teamA, "team-a: at most", "v1: at most", 1)}))
	l.setConfigMap(configMap("team-b", "v0-as-v1", map[string]string{"v0.rego": strings.ReplaceAll(v0, "team-a", "team-b")}, AnnotationRegoVersion, "v1"))
	reload(t, l)
	wantStatus(t, "v0", statusOf(t, l, "team-a/v0"), "loaded: ")
	wantStatus(t, "v1", statusOf(t, l, "team-a/v1"), "loaded: ")
	wantStatus(t, "v0-as-v1", statusOf(t, l, "team-b/v0-as-v1"), "error: v0.rego:3: rego_parse_error")
	want := []string{"shipgate.namespaces.team-a: v0: at most 3 replicas", "shipgate.namespaces.team-a: v1: at most 3 replicas"}
	if got := denies(t, e, "team-a", labelled, 5); !slices.Equal(got, want) {
		t.Errorf("deny = %q, want %q", got, want)
	}
}

// TestNamespaceData: a namespace ConfigMap's data is mounted under the
// namespace's own path, merged across its ConfigMaps.
func TestNamespaceData(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{
		"limits.rego": `package shipgate.namespaces["team-a"]

deny contains sprintf("at most %d replicas", [data.shipgate.namespaces["team-a"].limits.replicas]) if {
	input.request.object.spec.replicas > data.shipgate.namespaces["team-a"].limits.replicas
}
`,
		"data.yaml": "limits: {replicas: 2}\n",
	}))
	reload(t, l)
	l.setConfigMap(configMap("team-a", "a-clash", map[string]string{"data.json": `{"limits": {"replicas": 9}}`}))
	reload(t, l)
	wantStatus(t, "limits", statusOf(t, l, "team-a/limits"), "loaded: ")
	wantStatus(t, "a-clash", statusOf(t, l, "team-a/a-clash"), "error: data.json: data.limits.replicas is set twice")
	if got := denies(t, e, "team-a", labelled, 3); !slices.Equal(got, []string{"shipgate.namespaces.team-a: at most 2 replicas"}) {
		t.Errorf("deny = %q", got)
	}
}

// TestDeleteConfigMap: a deleted ConfigMap's policy goes; a namespace left
// with none has no own policy at all.
func TestDeleteConfigMap(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	l.setConfigMap(configMap(clusterNS, "extra", map[string]string{"extra.rego": "package shipgate.extra\n\nwarn contains \"w\"\n"}))
	reload(t, l)
	if !e.Applies("team-a", nil) {
		t.Fatal("team-a has no own policy")
	}
	l.deleteConfigMap("team-a/limits")
	l.deleteConfigMap(clusterNS + "/extra")
	reload(t, l)
	if e.Applies("team-a", nil) {
		t.Error("team-a still has its own policy")
	}
	if slices.Contains(e.Sets(), "extra") {
		t.Error("the deleted cluster ConfigMap's package is still there")
	}
	if _, _, ok := l.status("team-a/limits"); ok {
		t.Error("a deleted ConfigMap still has a status")
	}
}

// TestDirectory: a directory reading that does not compile is refused with
// its file and line, the reading in force stays, and the ConfigMaps keep
// loading beside it.
func TestDirectory(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap(clusterNS, "extra", map[string]string{"extra.rego": "package shipgate.baseline\n\nwarn contains \"w\"\n"}))
	reload(t, l)

	broken := policy.NewBundle()
	broken.AddModule("policies/baseline.rego", "package shipgate.baseline\n\ndeny contains x if { x := }\n", policy.RegoAuto)
	l.setDirectory(broken)
	_, err := l.reload()
	if err == nil || !strings.Contains(err.Error(), "policies/baseline.rego:3: rego_parse_error") {
		t.Fatalf("reload = %v, want the directory's error with file and line", err)
	}
	if got := denies(t, e, "team-b", nil, 1); !slices.Equal(got, []string{"baseline: needs a team label"}) {
		t.Errorf("deny = %q: the directory in force changed", got)
	}
	wantStatus(t, "extra", statusOf(t, l, clusterNS+"/extra"), "loaded: cluster revision "+e.Revision())

	fixed := policy.NewBundle()
	fixed.AddModule("policies/baseline.rego", "package shipgate.baseline\n\ndeny contains \"new baseline\"\n", policy.RegoAuto)
	l.setDirectory(fixed)
	reload(t, l)
	if got := denies(t, e, "team-b", nil, 1); !slices.Equal(got, []string{"baseline: new baseline"}) {
		t.Errorf("deny = %q after the fix", got)
	}
	wantStatus(t, "extra", statusOf(t, l, clusterNS+"/extra"), "loaded: cluster revision "+e.Revision())
}

// TestUnreadableEditKeepsLastGood: an edit that cannot even be read (an
// unknown Rego version) leaves the version that loaded in force.
func TestUnreadableEditKeepsLastGood(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	reload(t, l)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}, AnnotationRegoVersion, "v9"))
	reload(t, l)
	wantStatus(t, "limits", statusOf(t, l, "team-a/limits"), `error: annotation shipgate.dev/rego-version: unknown Rego version "v9"`, "stays in force")
	if got := denies(t, e, "team-a", labelled, 5); len(got) != 1 {
		t.Errorf("deny = %q: the version in force is gone", got)
	}
}

// TestRemovalBreaksDependant: deleting a ConfigMap whose function another
// one calls refuses the other with its error, and leaves the rest.
func TestRemovalBreaksDependant(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap(clusterNS, "lib", map[string]string{"lib.rego": "package lib\n\nbig(n) := n > 3\n"}))
	l.setConfigMap(configMap(clusterNS, "user", map[string]string{"user.rego": "package shipgate.sizes\n\nimport data.lib\n\ndeny contains \"big\" if lib.big(input.request.object.spec.replicas)\n"}))
	reload(t, l)
	wantStatus(t, "user", statusOf(t, l, clusterNS+"/user"), "loaded: ")
	l.deleteConfigMap(clusterNS + "/lib")
	reload(t, l)
	wantStatus(t, "user", statusOf(t, l, clusterNS+"/user"), "error: user.rego:5: rego_type_error: undefined function data.lib.big", "not in force")
	if got := denies(t, e, "team-b", nil, 5); !slices.Equal(got, []string{"baseline: needs a team label"}) {
		t.Errorf("deny = %q", got)
	}
}
