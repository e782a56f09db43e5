package e2e

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// testChartDryRun renders the chart as users install it (a Service
// clientConfig, the chart's own CA; cert-manager and ServiceMonitor off,
// their CRDs are not here) and applies every object with server-side dry
// run: the API server validates and defaults each one and stores nothing.
// Then the same for several replicas on PostgreSQL, and a render the chart
// must refuse.
func testChartDryRun(ctx context.Context, t *testing.T, e *env) {
	cases := map[string]struct {
		values    map[string]any
		replicas  int
		wantKinds []string
	}{
		"defaults: one replica on SQLite": {
			values: merge(chartValues(), map[string]any{"config": gatewayConfig(e.reg.Host)}),
			wantKinds: []string{"ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "ClusterRole",
				"ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
				"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
		},
		"three replicas on PostgreSQL": {
			values: map[string]any{
				"replicas": 3,
				"config": merge(gatewayConfig(e.reg.Host), map[string]any{"audit": map[string]any{"checkpointKey": map[string]any{
					"secretRef": map[string]any{"name": "shipgate-audit-key", "key": "key"}}}}),
				"store": map[string]any{"postgres": map[string]any{"urlSecret": map[string]any{"name": "shipgate-postgres"}}},
				"rbac": map[string]any{"secrets": []any{
					map[string]any{"name": keysSecret},
					map[string]any{"name": "shipgate-audit-key"},
					map[string]any{"name": "regcred", "namespace": enforced},
				}},
			},
			replicas:  3,
			wantKinds: []string{"PodDisruptionBudget", "Deployment"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := e.c.RenderChart(ctx, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.wantKinds {
				if len(m.Select(k)) == 0 {
					t.Errorf("the rendered chart has no %s", k)
				}
			}
			for _, o := range m.Objects {
				if o.GetKind() == "Certificate" || o.GetKind() == "ServiceMonitor" {
					t.Errorf("rendered %s %s with cert-manager and ServiceMonitor off", o.GetKind(), o.GetName())
				}
			}
			if err := e.c.Apply(ctx, m.Objects, true); err != nil {
				t.Fatalf("server-side dry run of the rendered chart: %v", err)
			}
			if tc.replicas > 1 {
				d, err := m.One("Deployment")
				if err != nil {
					t.Fatal(err)
				}
				if _, ok, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec", "affinity", "podAntiAffinity"); !ok {
					t.Errorf("Deployment of %d replicas has no pod anti-affinity", tc.replicas)
				}
			}
		})
	}
	t.Run("two replicas without PostgreSQL do not render", func(t *testing.T) {
		_, err := e.c.RenderChart(ctx, map[string]any{"replicas": 2})
		if err == nil || !strings.Contains(err.Error(), "needs a PostgreSQL store") {
			t.Fatalf("want the chart to refuse replicas=2 on SQLite, got %v", err)
		}
	})
}

// merge returns a copy of a with b's keys set over it (one level).
func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
