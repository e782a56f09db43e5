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

// Object names the audit checks look for.
const (
	refusedName = "web-latest"
	dryRunName  = "web-dry-run"
	pinnedName  = "web"
)

// testRefusesLatest: the deployer applies a Deployment whose image is
// tagged latest in an enforced namespace; kubectl prints shipgate's reason.
func testRefusesLatest(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, refusedName, latestImage, 1), "apply", "-f", "-")
	wantRefused(t, r, "Deployment", enforced, refusedName, "uses the tag latest")
	e.expect(admission("Deployment", enforced, refusedName, "denied", harness.Deployer))
	wantNoDeployment(ctx, t, e.c, enforced, refusedName)
	e.log.Printf("kubectl said: %s", strings.TrimSpace(r.Stderr))
}

// testDryRunRefused: --dry-run=server is judged like the real request
// (sideEffects NoneOnDryRun lets the API server call shipgate), and the
// audit check at the end finds no record of it.
func testDryRunRefused(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, dryRunName, latestImage, 1),
		"apply", "--dry-run=server", "-f", "-")
	wantRefused(t, r, "Deployment", enforced, dryRunName, "uses the tag latest")
	wantNoDeployment(ctx, t, e.c, enforced, dryRunName)
}

// testControllerObjects: a Deployment of an image no trust policy covers is
// admitted in the warn namespace (testSignedRollout does it signed, in an
// enforced one), and
// what kube-controller-manager makes beneath it, acting as its own service
// accounts, passes the same webhooks: the ReplicaSet and both Pods exist.
// shipgate looks their owners up with the chart's RBAC.
func testControllerObjects(ctx context.Context, t *testing.T, e *env) {
	const replicas = 2
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(warned, pinnedName, pinnedImage, replicas), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want admitted:\n%s", r)
	}
	e.expect(admission("Deployment", warned, pinnedName, "warned", harness.Deployer))
	sel := metav1.ListOptions{LabelSelector: "app=" + pinnedName}
	eventually(ctx, t, "the controllers creating the ReplicaSet and Pods", 60*time.Second, func(ctx context.Context) error {
		rss, err := e.c.Admin.AppsV1().ReplicaSets(warned).List(ctx, sel)
		if err != nil {
			return err
		}
		if len(rss.Items) != 1 {
			return fmt.Errorf("%d ReplicaSets, want 1", len(rss.Items))
		}
		pods, err := e.c.Admin.CoreV1().Pods(warned).List(ctx, sel)
		if err != nil {
			return err
		}
		if len(pods.Items) != replicas {
			return fmt.Errorf("%d Pods, want %d (ReplicaSet status: %+v)", len(pods.Items), replicas, rss.Items[0].Status)
		}
		return nil
	})
}

// testWarnMode: in a warn namespace the latest image is admitted and
// kubectl prints shipgate's reason as a warning.
func testWarnMode(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(warned, refusedName, latestImage, 1), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want admitted with a warning:\n%s", r)
	}
	e.expect(admission("Deployment", warned, refusedName, "warned", harness.Deployer))
	want := fmt.Sprintf("Warning: shipgate: Deployment %s/%s: ", warned, refusedName)
	if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "uses the tag latest") {
		t.Errorf("kubectl's stderr lacks the warning %q … uses the tag latest:\n%s", want, r)
	}
}

// testKubeSystemNotJudged: the chart's namespaceSelector keeps kube-system
// away from shipgate, so even a latest image is stored there. (Fail closed
// shows the API server does not call shipgate at all for it.)
func testKubeSystemNotJudged(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Admin, deployment("kube-system", "system-latest", latestImage, 0), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want admitted in kube-system:\n%s", r)
	}
	if strings.Contains(r.Stderr, "shipgate") {
		t.Errorf("shipgate spoke about a kube-system object:\n%s", r)
	}
}
