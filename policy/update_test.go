package policy

import (
	"errors"
	"slices"
	"testing"
)

// TestUpdateChanged: only the namespaces named are compiled; the others
// keep their compiled policy (the same unit, not a recompiled one), a nil
// bundle removes a namespace's own policy, a broken bundle keeps the last
// good one and is reported, and a namespace never seen before fails closed
// until it compiles.
func TestUpdateChanged(t *testing.T) {
	t.Parallel()
	good := func(ns, msg string) *Bundle {
		return bundleOf(map[string]string{ns + "/policy.rego": "package shipgate.namespaces[\"" + ns + "\"]\n\ndeny contains \"" + msg + "\"\n"})
	}
	broken := func(ns string) *Bundle {
		return bundleOf(map[string]string{ns + "/policy.rego": "package shipgate.namespaces[\"" + ns + "\"]\n\ndeny contains \"x\" if {\n"})
	}
	e := mustEngine(t, clusterDenyingLatest, map[string]*Bundle{"a": good("a", "a v1"), "b": good("b", "b v1"), "c": good("c", "c v1")})
	before := e.rev.Load()

	err := e.UpdateChanged(clusterDenyingLatest, map[string]*Bundle{
		"a": good("a", "a v2"), // changed
		"b": nil,               // its ConfigMaps were deleted
		"d": broken("d"),       // new and broken
	})
	var nse NamespaceErrors
	if !errors.As(err, &nse) || len(nse) != 1 || nse["d"] == nil {
		t.Fatalf("UpdateChanged error = %v, want NamespaceErrors for d alone", err)
	}
	after := e.rev.Load()
	if after.cluster != before.cluster {
		t.Error("the unchanged cluster policy was compiled again")
	}
	if after.namespaces["c"] != before.namespaces["c"] {
		t.Error("namespace c, not named, was compiled again")
	}
	if after.namespaces["a"] == before.namespaces["a"] {
		t.Error("namespace a kept its old policy")
	}

	tests := map[string]struct {
		deny    []string
		wantErr bool
	}{
		"a": {deny: []string{"shipgate.namespaces.a: a v2"}},
		"b": {},
		"c": {deny: []string{"shipgate.namespaces.c: c v1"}},
		"d": {wantErr: true},
	}
	check := func(t *testing.T) {
		t.Helper()
		for ns, tc := range tests {
			res, err := e.Evaluate(t.Context(), ns, nil, podReview(ns, "app:1.0"))
			if (err != nil) != tc.wantErr {
				t.Errorf("%s: Evaluate error = %v, want error %v", ns, err, tc.wantErr)
				continue
			}
			if got := msgs(res.Deny); err == nil && !slices.Equal(got, tc.deny) {
				t.Errorf("%s: deny = %q, want %q", ns, got, tc.deny)
			}
		}
	}
	check(t)

	// a breaks: it keeps v2; d is fixed. c is still not compiled again.
	err = e.UpdateChanged(clusterDenyingLatest, map[string]*Bundle{"a": broken("a"), "d": good("d", "d v1")})
	if !errors.As(err, &nse) || len(nse) != 1 || nse["a"] == nil {
		t.Fatalf("UpdateChanged error = %v, want NamespaceErrors for a alone", err)
	}
	if e.rev.Load().namespaces["c"] != before.namespaces["c"] {
		t.Error("namespace c, not named, was compiled again")
	}
	tests["d"] = struct {
		deny    []string
		wantErr bool
	}{deny: []string{"shipgate.namespaces.d: d v1"}}
	check(t)
	if e.Applies("b", nil) {
		t.Error("b still has a policy of its own after its bundle was removed")
	}
}
