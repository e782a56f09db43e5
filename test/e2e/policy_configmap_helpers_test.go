package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// pcmWrites collects, from a watch of one ConfigMap, the status annotation
// of each change until nothing has happened for quiet.
func pcmWrites(t *testing.T, w watch.Interface, quiet time.Duration) []string {
	t.Helper()
	var out []string
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended")
			}
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if ev.Type != watch.Modified || !isCM {
				t.Fatalf("unexpected watch event %s %T", ev.Type, ev.Object)
			}
			out = append(out, cm.Annotations[pcmStatus])
		case <-time.After(quiet):
			return out
		}
	}
}

// apply writes a policy ConfigMap with kubectl as user.
func (e *pcmEnv) apply(ctx context.Context, t *testing.T, user, ns, name string, data map[string]string, annotations ...string) {
	t.Helper()
	y, err := yaml.Marshal(pcmConfigMap(ns, name, data, annotations...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.MustKubectl(ctx, user, string(y), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// wantStatus waits until the ConfigMap's status starts with prefix and
// holds every want.
func (e *pcmEnv) wantStatus(ctx context.Context, t *testing.T, ns, name, prefix string, want ...string) {
	t.Helper()
	pcmEventually(ctx, t, fmt.Sprintf("the status of ConfigMap %s/%s", ns, name), 30*time.Second, func(ctx context.Context) error {
		cm, err := e.c.Admin.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got := cm.Annotations[pcmStatus]
		if !strings.HasPrefix(got, prefix) {
			return fmt.Errorf("status %q, want it to start with %q", got, prefix)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				return fmt.Errorf("status %q lacks %q", got, w)
			}
		}
		return nil
	})
}

// pcmConfigMap is a policy ConfigMap; annotations are key, value pairs.
func pcmConfigMap(ns, name string, data map[string]string, annotations ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{pcmLabel: "rego"}},
		Data:       data,
	}
	for i := 0; i+1 < len(annotations); i += 2 {
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[annotations[i]] = annotations[i+1]
	}
	return cm
}

// pcmDeployment is a Deployment manifest with labels on the Deployment.
func pcmDeployment(ns, name string, labels map[string]string, replicas int) string {
	var l []string
	for k, v := range labels {
		l = append(l, fmt.Sprintf("%s: %q", k, v))
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s
  labels: {%[4]s}
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
      containers:
      - name: web
        image: registry.example.com/team-a/web:1.4.2
`, ns, name, replicas, strings.Join(l, ", "))
}

// pcmWantRefused checks kubectl was refused by shipgate's validating
// webhook with msg among the reasons.
func pcmWantRefused(t *testing.T, r harness.Result, ns, name, msg string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("want kubectl refused, it succeeded:\n%s", r)
	}
	for _, want := range []string{`admission webhook "validate.shipgate.dev" denied the request`,
		fmt.Sprintf("shipgate: Deployment %s/%s: ", ns, name), msg, "(decision "} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl's stderr lacks %q:\n%s", want, r)
		}
	}
}

// pcmEventually polls check every 250ms until it returns nil, or fails
// the test with its last error after timeout.
func pcmEventually(ctx context.Context, t *testing.T, what string, timeout time.Duration, check func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (last: %v)", what, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
