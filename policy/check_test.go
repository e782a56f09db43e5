package policy

import (
	"slices"
	"testing"
)

// TestCheck: Check compiles as Update would and changes nothing in force;
// what it compiled is what the next Update puts in force.
func TestCheck(t *testing.T) {
	t.Parallel()
	e := mustEngine(t, clusterDenyingLatest, nil)
	rev := e.Revision()

	broken := bundleOf(map[string]string{"ns.rego": "package shipgate.namespaces[\"team-a\"]\n\ndeny contains x if { x := }\n"})
	compileErrorAt(t, e.Check("team-a", broken), "ns.rego", 3, "rego_parse_error")
	refused := bundleOf(map[string]string{"ns.rego": "package shipgate.production\n\ndeny := set()\n"})
	compileErrorAt(t, e.Check("team-a", refused), "ns.rego", 1, "is refused")
	compileErrorAt(t, e.Check("", broken), "ns.rego", 3, "rego_parse_error")

	good := bundleOf(map[string]string{"ns.rego": "package shipgate.namespaces[\"team-a\"]\n\ndeny contains \"team-a rule\"\n"})
	if err := e.Check("team-a", good); err != nil {
		t.Fatal(err)
	}
	if e.Applies("team-a", nil) || e.Revision() != rev {
		t.Fatal("Check changed the policy in force")
	}
	// The same bundle checked for another namespace is refused there:
	// a checked unit is kept per namespace.
	compileErrorAt(t, e.Check("team-b", good), "ns.rego", 1, "is refused")

	if err := e.Update(clusterDenyingLatest, map[string]*Bundle{"team-a": good}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Evaluate(t.Context(), "team-a", []string{"production"}, podReview("team-a", "app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"production: image app:latest uses latest", "shipgate.namespaces.team-a: team-a rule"}
	if got := msgs(res.Deny); !slices.Equal(got, want) {
		t.Errorf("deny = %q, want %q", got, want)
	}
}
