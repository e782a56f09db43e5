package yamlerr

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc  string
		want []Problem
	}{
		"a scanner error keeps its line":                   {"a: 1\nb: \"open\n", []Problem{{Line: 2, Msg: "found unexpected end of stream"}}},
		"a parser error at the end stays on the last line": {"a: 1\nb: [x\n", []Problem{{Line: 2, Msg: "did not find expected ',' or ']'"}}},
		"each type error on its line":                      {"a: x\nb: y\n", []Problem{{Line: 1, Msg: "cannot unmarshal !!str `x` into int"}, {Line: 2, Msg: "cannot unmarshal !!str `y` into int"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var v struct{ A, B int }
			err := yaml.Unmarshal([]byte(tc.doc), &v)
			if err == nil {
				t.Fatal("no error")
			}
			got := Split(err, []byte(tc.doc))
			if len(got) != len(tc.want) {
				t.Fatalf("Split = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("problem %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
