package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// TestHostileManifests: `shipgate check` reads manifests from files; a
// YAML alias bomb (ten levels, each ten times the one before: 10^10
// strings) and nesting past the decoder's depth are errors naming the
// file and line, not a process that runs out of memory or stack.
func TestHostileManifests(t *testing.T) {
	t.Parallel()
	var bomb strings.Builder
	bomb.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nx:\n  a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n")
	for i := 'b'; i <= 'j'; i++ {
		fmt.Fprintf(&bomb, "  %c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("spec: {containers: [{name: a, image: 'busybox:1.37', args: *j}]}\n")
	tests := map[string]struct{ doc, says string }{
		"an alias bomb": {bomb.String(), "hostile.yaml:1: document contains excessive aliasing"},
		"flow sequences 20,000 deep": {
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: " + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + "\n",
			"hostile.yaml:4: exceeded max depth",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, err := Parse("hostile.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse = %d objects, want an error", len(objs))
			}
			t.Logf("%v", err)
			if len(err.Error()) > 400 || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %.500q does not say %q in one short line", err, tc.says)
			}
		})
	}
}
