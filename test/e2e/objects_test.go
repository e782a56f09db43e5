package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// Images the scenarios name. No registry serves them and nothing pulls
// them (there are no nodes); no trust policy covers them, so the scenarios
// here assert only on what does not depend on signatures. The signing
// scenarios bring a real registry and cosign.
const (
	latestImage = "registry.example.com/team-a/web:latest"
	pinnedImage = "registry.example.com/team-a/web:1.4.2"
)

// deployment is a Deployment manifest with one container.
func deployment(ns, name, image string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  replicas: %[4]d
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
      containers:
      - name: web
        image: %[3]s
`, ns, name, image, replicas)
}

// wantRefused checks kubectl failed and its stderr carries shipgate's
// denial for the object, with the reason and a decision id.
func wantRefused(t *testing.T, r harness.Result, kind, ns, name, reason string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("want kubectl refused, it succeeded:\n%s", r)
	}
	prefix := fmt.Sprintf("shipgate: %s %s/%s: ", kind, ns, name)
	for _, want := range []string{`admission webhook "validate.shipgate.dev" denied the request`, prefix, reason, "(decision "} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl's stderr lacks %q:\n%s", want, r)
		}
	}
}

// wantNoDeployment checks the API server stored no Deployment of that name.
func wantNoDeployment(ctx context.Context, t *testing.T, c *harness.Cluster, ns, name string) {
	t.Helper()
	_, err := c.Admin.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		t.Errorf("Deployment %s/%s was stored", ns, name)
	}
}

// eventually polls check every 200ms until it returns nil or timeout
// passes, then fails with the last error.
func eventually(ctx context.Context, t *testing.T, what string, timeout time.Duration, check func(context.Context) error) {
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
		case <-time.After(200 * time.Millisecond):
		}
	}
}
