package policy

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestReadsOldObject: every way a module can reach input.request.oldObject
// counts; references that cannot reach it do not.
func TestReadsOldObject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules string
		reads bool
	}{
		{"names it", `deny contains "x" if input.request.oldObject.spec.replicas > 3`, true},
		{"new object only", `deny contains "x" if input.request.object.spec.replicas > 3`, false},
		{"facts and the request's other members", `deny contains "x" if { input.shipgate.workload.kind == "Pod"; input.request.operation == "UPDATE" }`, false},
		{"input.request through a variable", "r := input.request\ndeny contains \"x\" if r.oldObject", true},
		{"a member chosen at run time", `deny contains k if { some k; input.request[k] == 1 }`, true},
		{"a top-level member chosen at run time", `deny contains k if { some k; input[k].oldObject }`, true},
		{"input whole to a built-in", `deny contains "x" if walk(input, [["request", "oldObject"], _])`, true},
		{"object.get on input", `deny contains "x" if object.get(input, ["request", "oldObject", "spec"], null) != null`, true},
		{"json.marshal of input", `deny contains s if s := json.marshal(input)`, true},
		{"inside another reference's key", `deny contains "x" if input.request.object.metadata.labels[input.request.oldObject.metadata.name]`, true},
		{"a data reference keyed by it", `deny contains "x" if data.shipgate.limits[input.request.oldObject.kind]`, true},
		{"replaced with with", "f := input.request.object.kind\ndeny contains \"x\" if f == \"a\" with input as {}", true},
		{"an import", "import input.request.oldObject as old\ndeny contains \"x\" if old.spec", true},
		{"a function given input.request", "g(r) := r.oldObject\ndeny contains \"x\" if g(input.request)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBundle()
			b.AddModule("p.rego", "package shipgate.p\n"+tc.rules+"\n", RegoV1)
			u, err := compileUnit(context.Background(), b, "d", "", capabilities(false, nil), true)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.sets["p"].readsOld; got != tc.reads {
				t.Fatalf("readsOld = %v, want %v", got, tc.reads)
			}
		})
	}
}

// TestOldObjectOnlyWhenRead: a set that may read the old object sees it,
// and so does every set evaluated with it; sets that cannot read it get an
// input without it and decide the same. The analysis is per compiled unit
// (cluster policy, or one namespace's): a package may read another
// package's rules of its unit.
func TestOldObjectOnlyWhenRead(t *testing.T) {
	review, err := os.ReadFile("testdata/deployment-review.json")
	if err != nil {
		t.Fatal(err)
	}
	const (
		readsNew = `package shipgate.new
deny contains "new object seen" if input.request.object.metadata.name == "checkout"
`
		readsOld = `package shipgate.old
deny contains "old object seen" if input.request.oldObject.metadata.name == "checkout"
`
	)
	newOnly, both := NewBundle(), NewBundle()
	newOnly.AddModule("new.rego", readsNew, RegoV1)
	both.AddModule("new.rego", readsNew, RegoV1)
	both.AddModule("old.rego", readsOld, RegoV1)
	ns := NewBundle()
	ns.AddModule("ns.rego", `package shipgate.namespaces.shop
deny contains "namespace saw the old object" if input.request.oldObject.metadata.name == "checkout"
`, RegoV1)
	in := &Input{Review: review}
	for _, tc := range []struct {
		cluster   *Bundle
		namespace string
		sets      []string
		want      []string
		whole     bool
	}{
		{newOnly, "", []string{"new"}, []string{"new object seen"}, false},
		{newOnly, "other", []string{"new"}, []string{"new object seen"}, false},
		{newOnly, "shop", []string{"new"}, []string{"namespace saw the old object", "new object seen"}, true},
		{both, "", []string{"old"}, []string{"old object seen"}, true},
		{both, "", []string{"new"}, []string{"new object seen"}, true},
		{both, "", []string{"new", "old"}, []string{"new object seen", "old object seen"}, true},
	} {
		e, err := New(tc.cluster, map[string]*Bundle{"shop": ns})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Evaluate(context.Background(), tc.namespace, tc.sets, in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range res.Deny {
			got = append(got, m.Msg)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d modules, %q %v: denied %q, want %q", len(tc.cluster.Modules), tc.namespace, tc.sets, got, tc.want)
		}
		if whole := e.rev.Load().readsOld(tc.namespace, tc.sets); whole != tc.whole {
			t.Errorf("%d modules, %q %v: input with oldObject = %v, want %v", len(tc.cluster.Modules), tc.namespace, tc.sets, whole, tc.whole)
		}
	}
	// What the input holds without it: everything else.
	full, err := in.value(false)
	if err != nil {
		t.Fatal(err)
	}
	trimmed, err := in.value(true)
	if err != nil {
		t.Fatal(err)
	}
	req := ast.StringTerm("request")
	if trimmed.(ast.Object).Get(req).Value.(ast.Object).Get(ast.StringTerm("oldObject")) != nil {
		t.Fatal("the trimmed input still has request.oldObject")
	}
	fullReq := full.(ast.Object).Get(req).Value.(ast.Object)
	if fullReq.Get(ast.StringTerm("oldObject")) == nil {
		t.Fatal("the whole input lacks request.oldObject")
	}
	// Everything else is the same.
	rebuilt := withoutOldObject(full)
	if rebuilt.Compare(trimmed) != 0 {
		t.Fatal("the trimmed input differs from the whole one beyond request.oldObject")
	}
}
