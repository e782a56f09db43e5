package policy

import (
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestBuiltinsOfEveryKindCompile: a unit is compiled with only the
// built-ins its modules name (forModules). Every way a module reaches a
// built-in — a dotted name, an operator, "in" and "some … in", every,
// print, a template string, a comprehension, a function a "with" replaces,
// a v0 module — must still compile and decide as OPA decides with all of
// them; the cluster and a namespace's own policy alike.
func TestBuiltinsOfEveryKindCompile(t *testing.T) {
	t.Parallel()
	const rules = `
deny contains strings.replace_n({"a": "b"}, "xa") if input.x > 1
deny contains sprintf("%s", ["in"]) if "a" in input.tags
deny contains "some in" if {
	some t in input.tags
	t == "b"
}
deny contains "every" if every t in input.tags { count(t) == 1 }
deny contains "print" if print("debugging")
deny contains $"template {input.x}" if input.x > 0
deny contains "comprehension" if count([t | some t in input.tags; startswith(t, "a")]) == 1
deny contains "mocked" if upper("x") == "MOCKED" with upper as mock_upper
deny contains concat("", ["set ", "union"]) if count({1} | {2}) == 2
mock_upper(_) := "MOCKED"
`
	v0 := `# shipgate.dev/rego-version: v0
package shipgate.legacy

deny[msg] { msg := trim_space(" v0 ") }
`
	cluster := bundleOf(map[string]string{
		"p.rego":      "package shipgate.p\n" + rules,
		"legacy.rego": v0,
	})
	ns := bundleOf(map[string]string{"ns.rego": `package shipgate.namespaces["team-a"]` + "\n" + rules})
	e := mustEngine(t, cluster, map[string]*Bundle{"team-a": ns})
	input := map[string]any{"x": 2, "tags": []string{"a", "b"}}
	want := []string{"xb", "in", "some in", "every", "print", "template 2", "comprehension", "mocked", "set union"}
	slices.Sort(want)
	res, err := e.Evaluate(t.Context(), "team-a", []string{"p", "legacy"}, input)
	if err != nil {
		t.Fatal(err)
	}
	var p, legacy, own []string
	for _, m := range res.Deny {
		switch m.Set {
		case "p":
			p = append(p, m.Msg)
		case "legacy":
			legacy = append(legacy, m.Msg)
		default:
			own = append(own, m.Msg)
		}
	}
	if !slices.Equal(p, want) || !slices.Equal(own, want) || !slices.Equal(legacy, []string{"v0"}) {
		t.Errorf("deny: cluster %q, namespace %q, v0 %q; want %q twice and [v0]", p, own, legacy, want)
	}
}

// TestForModulesKeepsWhatModulesName checks the cut-down capabilities
// directly: the built-ins named, operators and internal ones, and nothing
// caps did not have.
func TestForModulesKeepsWhatModulesName(t *testing.T) {
	t.Parallel()
	mod := ast.MustParseModule(`package p

x := strings.replace_n({}, "a") if count(input.a) > 1
y := http.send({})
`)
	caps := capabilities(false, nil)
	got := forModules(caps, map[string]*ast.Module{"p.rego": mod})
	for _, name := range []string{"strings.replace_n", "count", "gt", "assign", "eq", "internal.member_2", "internal.print"} {
		if !hasBuiltin(got, name) {
			t.Errorf("%s is missing", name)
		}
	}
	for _, name := range []string{"http.send", "sprintf", "regex.match"} {
		if hasBuiltin(got, name) {
			t.Errorf("%s is there, but the module does not name it or caps lacks it", name)
		}
	}
	if len(got.Builtins) > 40 {
		t.Errorf("%d built-ins kept of %d", len(got.Builtins), len(caps.Builtins))
	}
}

// TestOutputQueryIsWhatTheParserReads: the query built in Go is the one
// the parser reads from its text.
func TestOutputQueryIsWhatTheParserReads(t *testing.T) {
	t.Parallel()
	path := namespaceRoot("team-a")
	want := ast.MustParseBody(`deny := [d | d := data.shipgate.namespaces["team-a"].deny]; warn := [w | w := data.shipgate.namespaces["team-a"].warn]; require_approval := [a | a := data.shipgate.namespaces["team-a"].require_approval]`)
	if got := outputQuery(path); !got.Equal(want) {
		t.Errorf("outputQuery = %v, want %v", got, want)
	}
}
