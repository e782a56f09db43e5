package kube

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/policy"
)

// clusterNS is shipgate's namespace in the tests.
const clusterNS = "shipgate-system"

// baselineDir is the policy directory: package shipgate.baseline denies a
// Deployment without a team label.
var baselineDir = map[string]string{"policies/baseline.rego": `package shipgate.baseline

deny contains "needs a team label" if not input.request.object.metadata.labels.team
`}

// configMap is a policy ConfigMap; annotations are key, value pairs.
func configMap(ns, name string, data map[string]string, annotations ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels:      map[string]string{LabelPolicy: LabelPolicyValue},
			Annotations: map[string]string{},
		},
		Data: data,
	}
	for i := 0; i+1 < len(annotations); i += 2 {
		cm.Annotations[annotations[i]] = annotations[i+1]
	}
	return cm
}

// newTestLoader builds an Engine over the directory files and a loader on
// it, as the server does.
func newTestLoader(t testing.TB, dir map[string]string) (*loader, *policy.Engine) {
	t.Helper()
	b := policy.NewBundle()
	for name, src := range dir {
		b.AddModule(name, src, policy.RegoAuto)
	}
	e, err := policy.New(b, nil, policy.WithStrictBuiltinErrors())
	if err != nil {
		t.Fatal(err)
	}
	return newLoader(e, clusterNS, b, slog.New(slog.NewTextHandler(io.Discard, nil))), e
}

// reload reloads and fails on a directory error.
func reload(t testing.TB, l *loader) []string {
	t.Helper()
	keys, err := l.reload()
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	return keys
}

// statusOf is a ConfigMap's status text, failing when it has none.
func statusOf(t testing.TB, l *loader, key string) string {
	t.Helper()
	st, _, ok := l.status(key)
	if !ok {
		t.Fatalf("%s has no status", key)
	}
	return st.String()
}

// deployment is an AdmissionReview creating a Deployment in ns.
func deployment(ns string, labels map[string]string, replicas int) json.RawMessage {
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "0000",
			"kind":      map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
			"namespace": ns,
			"operation": "CREATE",
			"object": map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": "web", "namespace": ns, "labels": labels},
				"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{
					"containers": []any{map[string]any{"name": "web", "image": "registry.example.com/web:1.0"}},
				}}},
			},
		},
	}
	raw, err := json.Marshal(review)
	if err != nil {
		panic(err)
	}
	return raw
}

// denies evaluates the baseline set (and ns's own policy) over a
// Deployment and returns "set: msg" of each deny.
func denies(t testing.TB, e *policy.Engine, ns string, labels map[string]string, replicas int, sets ...string) []string {
	t.Helper()
	if sets == nil {
		sets = []string{"baseline"}
	}
	res, err := e.Evaluate(t.Context(), ns, sets, deployment(ns, labels, replicas))
	if err != nil {
		t.Fatalf("Evaluate in %s: %v", ns, err)
	}
	out := []string{}
	for _, m := range res.Deny {
		out = append(out, m.Set+": "+m.Msg)
	}
	return out
}

// wantStatus fails unless got starts with prefix and contains every want.
func wantStatus(t testing.TB, key, got, prefix string, want ...string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Errorf("status of %s = %q, want it to start with %q", key, got, prefix)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("status of %s = %q, want it to contain %q", key, got, w)
		}
	}
}
