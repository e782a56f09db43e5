package kube

import (
	"encoding/json"
	"strings"
)

// Status is what shipgate says about one policy ConfigMap, written to its
// AnnotationStatus.
type Status struct {
	// Loaded is true when the ConfigMap's latest version is in force.
	Loaded bool
	// Revision is, when loaded, the revision it is part of: for a
	// ConfigMap in shipgate's namespace the cluster policy's (as
	// Engine.Revision gives it), for any other the namespace's own policy's
	// (what follows "+" in a decision's policy revision). It does not
	// change with other namespaces' policy, so one namespace's edit does
	// not rewrite every status.
	Revision string
	// Cluster is true for cluster policy.
	Cluster bool
	// Errors are, when not loaded, why: "key:line: message", or a message
	// alone when it has no place.
	Errors []string
	// InForce is, when not loaded, whether an earlier version that did load
	// stays in force.
	InForce bool
}

// maxStatus bounds the annotation: a few errors say enough, and all of
// an object's annotations share 256 KiB.
const maxStatus = 4 << 10

// String is the annotation's value:
//
//	loaded: cluster revision 0123456789ab
//	loaded: namespace revision 0123456789ab
//	error: policy.rego:3: rego_parse_error: unexpected eof token; not in force
//	error: policy.rego:1: rego_compile_error: package … is refused: …; the version that loaded last stays in force
//
// It depends on nothing but the Status, so a status is written again only
// when it changes.
func (s Status) String() string {
	if s.Loaded {
		scope := "namespace"
		if s.Cluster {
			scope = "cluster"
		}
		return "loaded: " + scope + " revision " + s.Revision
	}
	var b strings.Builder
	b.WriteString("error: ")
	b.WriteString(strings.Join(s.Errors, "; "))
	tail := "; not in force"
	if s.InForce {
		tail = "; the version that loaded last stays in force"
	}
	if b.Len()+len(tail) > maxStatus {
		cut := maxStatus - len(tail) - len(" …")
		for cut > 0 && !utf8Start(b.String()[cut]) {
			cut--
		}
		s := b.String()[:cut] + " …"
		b.Reset()
		b.WriteString(s)
	}
	b.WriteString(tail)
	return b.String()
}

// utf8Start reports whether c begins a UTF-8 sequence (cutting there
// leaves valid text).
func utf8Start(c byte) bool { return c&0xC0 != 0x80 }

// statusPatch is the JSON merge patch that sets the status annotation and
// nothing else. Carrying the resourceVersion the status was computed for
// makes the API server refuse it (409) when the ConfigMap changed since:
// the status would describe a version that is no longer there.
func statusPatch(status, resourceVersion string) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations":     map[string]string{AnnotationStatus: status},
		"resourceVersion": resourceVersion,
	}})
}
