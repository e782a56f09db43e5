package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestPolicyExplain(t *testing.T) {
	t.Parallel()
	cluster := bundleOf(map[string]string{
		"a.rego": "package shipgate.a\n\ndeny contains msg if {\n\tsome img in input.images\n\tendswith(img, \":latest\")\n\tmsg := sprintf(\"%s is latest\", [img])\n}\n",
		"b.rego": "package shipgate.b\n\nwarn contains \"no images\" if {\n\ttrace(\"counting images\")\n\tcount(input.images) == 0\n}\n",
		"e.rego": "package shipgate.e\n\ndeny contains msg if {\n\tmsg := sprintf(\"%d\", [1 / count(input.images)])\n}\n",
	})
	ns := bundleOf(map[string]string{
		"ns.rego": "package shipgate.namespaces[\"team-a\"]\n\ndeny contains \"team-a refuses nginx\" if \"nginx:latest\" in input.images\n",
	})
	e := mustEngine(t, cluster, map[string]*Bundle{"team-a": ns}, WithStrictBuiltinErrors())
	input := map[string]any{"images": []string{"nginx:latest"}}

	want, err := e.Evaluate(t.Context(), "team-a", []string{"a", "b"}, input)
	if err != nil {
		t.Fatal(err)
	}
	got, traces, err := e.Explain(t.Context(), "team-a", []string{"a", "b"}, input)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Explain decided %+v, Evaluate %+v", got, want)
	}
	var sets []string
	for _, tr := range traces {
		sets = append(sets, tr.Set)
	}
	if fmt.Sprint(sets) != "[a b shipgate.namespaces.team-a]" {
		t.Fatalf("traces of %v, want a, b and the namespace's own", sets)
	}

	tests := map[string]struct {
		trace Trace
		mode  string
		want  []string
		not   []string
	}{
		"full: the rule that denied, line by line": {
			trace: traces[0], mode: ExplainFull,
			want: []string{"a.rego:3", "Enter data.shipgate.a.deny", "a.rego:5", `Eval endswith(img, ":latest")`, "a.rego:3", "Exit data.shipgate.a.deny"},
		},
		"notes: the trace() note and the rule it is in": {
			trace: traces[1], mode: ExplainNotes,
			want: []string{"b.rego:3", "Enter data.shipgate.b.warn", "b.rego:4", "Note \"counting images\""},
			not:  []string{"Fail"},
		},
		"fails: the failed expression and the path to it": {
			trace: traces[1], mode: ExplainFails,
			want: []string{"Enter data.shipgate.b.warn", "b.rego:5", "Fail "},
			not:  []string{"Note"},
		},
		"the namespace's own policy": {
			trace: traces[2], mode: ExplainFull,
			want: []string{"ns.rego:3", `Enter data.shipgate.namespaces["team-a"].deny`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s strings.Builder
			if err := tc.trace.Write(&s, tc.mode); err != nil {
				t.Fatal(err)
			}
			out, rest := s.String(), s.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("trace lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("trace has %q:\n%s", n, out)
				}
			}
		})
	}

	if err := traces[0].Write(&strings.Builder{}, "debug"); err == nil {
		t.Error("an unknown explain mode was accepted")
	}

	// An evaluation error: the traces so far come with it, the failing
	// set's last, showing where it stopped.
	_, traces, err = e.Explain(t.Context(), "", []string{"a", "e"}, map[string]any{"images": []string{}})
	if err == nil || !strings.Contains(err.Error(), "divide by zero") {
		t.Fatalf("err %v, want a division by zero", err)
	}
	if len(traces) != 2 || traces[1].Set != "e" {
		t.Fatalf("traces %v, want a and e", traces)
	}
	var s strings.Builder
	if err := traces[1].Write(&s, ExplainFull); err != nil || !strings.Contains(s.String(), "Enter data.shipgate.e.deny") {
		t.Errorf("trace of the failing set (%v):\n%s", err, s.String())
	}
}
