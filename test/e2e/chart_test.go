package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// testChartDryRun renders the chart as users install it (a Service
// clientConfig, the chart's own CA; cert-manager and ServiceMonitor off)
// and applies every object with server-side dry run: the API server
// validates and defaults each one and stores nothing. Then the same for
// several replicas on PostgreSQL; for cert-manager and a ServiceMonitor,
// whose CRDs this API server does not have, every other object (the
// webhooks then carry cainjector's annotation and no caBundle); and a
// render the chart must refuse.
func testChartDryRun(ctx context.Context, t *testing.T, e *env) {
	cases := map[string]struct {
		values    map[string]any
		replicas  int
		wantKinds []string
		hardened  bool
		// crdKinds are kinds rendered for CRDs the API server lacks: they
		// must be there, and are left out of the dry run.
		crdKinds []string
	}{
		"cert-manager and a ServiceMonitor": {
			values: merge(chartValues(), map[string]any{
				"config":         gatewayConfig(e.reg.Host),
				"tls":            map[string]any{"certManager": map[string]any{"enabled": true}},
				"serviceMonitor": map[string]any{"enabled": true},
			}),
			wantKinds: []string{"Service", "Deployment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
			crdKinds:  []string{"Issuer", "Certificate", "ServiceMonitor"},
		},
		"defaults: one replica on SQLite": {
			values:   merge(chartValues(), map[string]any{"config": gatewayConfig(e.reg.Host)}),
			hardened: true,
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
			var objs []*unstructured.Unstructured
			for _, o := range m.Objects {
				switch {
				case slices.Contains(tc.crdKinds, o.GetKind()):
				case o.GetKind() == "Issuer" || o.GetKind() == "Certificate" || o.GetKind() == "ServiceMonitor":
					t.Errorf("rendered %s %s with cert-manager and ServiceMonitor off", o.GetKind(), o.GetName())
				default:
					objs = append(objs, o)
				}
			}
			for _, k := range tc.crdKinds {
				if len(m.Select(k)) == 0 {
					t.Errorf("the rendered chart has no %s", k)
				}
			}
			if err := e.c.Apply(ctx, objs, true); err != nil {
				t.Fatalf("server-side dry run of the rendered chart: %v", err)
			}
			if len(tc.crdKinds) > 0 {
				wantCAInjected(t, m)
			}
			if tc.hardened {
				wantHardened(t, m)
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

// wantHardened checks the rendered Deployment runs shipgate as users
// expect to install it: a non-root user, a read-only root filesystem, no
// privilege escalation, every capability dropped, a seccomp profile, and
// resource requests and a memory limit. (The RBAC is proven by running:
// shipgate serves the whole suite as the chart's service account.)
func wantHardened(t *testing.T, m *harness.Manifest) {
	t.Helper()
	d, err := m.One("Deployment")
	if err != nil {
		t.Fatal(err)
	}
	want := func(what string, got any, ok bool, err error, value any) {
		t.Helper()
		if err != nil || !ok || fmt.Sprint(got) != fmt.Sprint(value) {
			t.Errorf("the chart's Deployment: %s is %v (set %v, %v), want %v", what, got, ok, err, value)
		}
	}
	pod := []string{"spec", "template", "spec", "securityContext"}
	b, ok, err := unstructured.NestedBool(d.Object, append(pod, "runAsNonRoot")...)
	want("the Pod's runAsNonRoot", b, ok, err, true)
	// A number, whether decoded as int64 or float64.
	n, ok, err := unstructured.NestedFieldNoCopy(d.Object, append(pod, "runAsUser")...)
	want("the Pod's runAsUser", n, ok, err, 65532)
	str, ok, err := unstructured.NestedString(d.Object, append(pod, "seccompProfile", "type")...)
	want("the Pod's seccompProfile", str, ok, err, "RuntimeDefault")
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("the chart's Deployment has %d containers, want 1", len(cs))
	}
	c, _ := cs[0].(map[string]any)
	b, ok, err = unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem")
	want("the container's readOnlyRootFilesystem", b, ok, err, true)
	b, ok, err = unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation")
	want("the container's allowPrivilegeEscalation", b, ok, err, false)
	drop, ok, err := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "drop")
	want("the container's dropped capabilities", drop, ok, err, []string{"ALL"})
	for _, path := range [][]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
		if v, ok, _ := unstructured.NestedString(c, append([]string{"resources"}, path...)...); !ok || v == "" {
			t.Errorf("the chart's Deployment: no resources.%s", strings.Join(path, "."))
		}
	}
}

// wantCAInjected checks that with cert-manager both webhook configurations
// ask cainjector for the CA and carry no caBundle of the chart's own.
func wantCAInjected(t *testing.T, m *harness.Manifest) {
	t.Helper()
	for _, o := range m.Select("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration") {
		if o.GetAnnotations()["cert-manager.io/inject-ca-from"] == "" {
			t.Errorf("%s %s has no cert-manager.io/inject-ca-from annotation", o.GetKind(), o.GetName())
		}
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, h := range hooks {
			w, _ := h.(map[string]any)
			if ca, ok, _ := unstructured.NestedString(w, "clientConfig", "caBundle"); ok && ca != "" {
				t.Errorf("%s %s: webhook %v carries a caBundle; cainjector sets it", o.GetKind(), o.GetName(), w["name"])
			}
		}
	}
}
