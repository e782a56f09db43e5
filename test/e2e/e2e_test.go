package e2e

import (
	"context"
	"log"
	"os"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// Namespaces the scenarios run in.
const (
	// enforced has no binding of its own: the defaults, mode enforce.
	enforced = "team-a"
	// warned matches the dev-* binding, mode warn.
	warned = "dev-team-a"
)

// gatewayConfig is the chart's `config:` value for the run.
func gatewayConfig() map[string]any {
	return map[string]any{
		"excludedNamespaces": []string{"kube-system", "kube-public", "kube-node-lease"},
		"defaults":           map[string]any{"mode": "enforce"},
		"namespaces": []any{
			map[string]any{"match": map[string]any{"names": []string{"dev-*"}}, "mode": "warn"},
		},
		"auth": map[string]any{"kubernetes": true},
	}
}

// TestE2E runs shipgate behind a real kube-apiserver: the control plane
// starts once and the scenarios run in order, each a subtest. Scenarios
// that need shipgate serving go before "fail closed", which stops it; the
// audit log is checked last, on the stopped store.
func TestE2E(t *testing.T) {
	start := time.Now()
	ctx := t.Context()
	logger := log.New(os.Stderr, "e2e: ", log.Ltime|log.Lmicroseconds)
	c, err := harness.StartCluster(ctx, harness.Options{Dir: t.TempDir(), Log: logger})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the run (%s):\n%s", c.Dir, c.Logs(60))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
		logger.Printf("whole run took %s", time.Since(start).Round(time.Millisecond))
	})
	logger.Printf("control plane ready in %s", time.Since(start).Round(time.Millisecond))

	if err := grantUsers(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{enforced, warned} {
		if err := c.EnsureNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
	}
	installStart := time.Now()
	sg, err := c.InstallShipgate(ctx, harness.InstallOptions{Config: gatewayConfig()})
	if err != nil {
		t.Fatalf("installing shipgate: %v", err)
	}
	logger.Printf("shipgate installed and serving in %s", time.Since(installStart).Round(time.Millisecond))
	e := &env{c: c, sg: sg, log: logger}

	steps := []struct {
		name string
		run  func(context.Context, *testing.T, *env)
	}{
		{"enforced namespace refuses a latest image", testRefusesLatest},
		{"server-side dry run is refused the same way", testDryRunRefused},
		{"warn namespace admits with shipgate's warnings", testWarnMode},
		{"controllers' ReplicaSet and Pods pass the webhooks", testControllerObjects},
		{"kube-system is not judged", testKubeSystemNotJudged},
		{"every rendered chart object passes server-side dry run", testChartDryRun},
		{"fail closed", testFailClosed},
		{"audit log verifies", testAuditVerifies},
	}
	for _, s := range steps {
		stepStart := time.Now()
		t.Run(s.name, func(t *testing.T) { s.run(t.Context(), t, e) })
		logger.Printf("step %q took %s", s.name, time.Since(stepStart).Round(time.Millisecond))
	}
}

// env is what the scenarios share.
type env struct {
	c   *harness.Cluster
	sg  *harness.Shipgate
	log *log.Logger
}

// grantUsers gives the token file's people their cluster rights: everyone
// who deploys may edit workloads anywhere, the auditor may read.
func grantUsers(ctx context.Context, c *harness.Cluster) error {
	bindings := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-developers-edit
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupDevelopers + `}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-auditors-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupAuditors + `}
`
	_, err := c.MustKubectl(ctx, harness.Admin, bindings, "apply", "-f", "-")
	return err
}
