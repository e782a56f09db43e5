package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// secretValues look like credentials to policies/production.rego's
// SG-PROD-SECRET rule, one of each shape it knows.
var secretValues = map[string]string{
	"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
	"GITHUB_TOKEN":      "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
	"DB_DSN":            "password=Tr0ub4dor&3-horse-battery",
	"DATABASE_URL":      "postgres://app:S3cr3tPa55w0rd@db.internal:5432/app",
	"TLS_KEY":           "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq3gHnQ",
	"SLACK_TOKEN":       "xoxb-2964727219-8472617283-Qp4bR7sLmT9vXz",
	"SESSION_JWT":       "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
	"API_SIGNING":       "Zk3Lp9Qr2Wx7Mn4Bv8Tc1Hy6",
}

// secretsReview is a Deployment CREATE in namespace ns whose app and init
// containers carry every secretValues entry as a literal env value.
func secretsReview(t *testing.T, uid, ns string) []byte {
	t.Helper()
	var env []map[string]string
	for name, value := range secretValues {
		env = append(env, map[string]string{"name": name, "value": value})
	}
	container := func(name string) map[string]any {
		return map[string]any{
			"name": name, "image": "registry.example.com/shop/api:1.4.2", "env": env,
			"resources":      map[string]any{"limits": map[string]string{"cpu": "1", "memory": "1Gi"}},
			"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": 8080}},
		}
	}
	object := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "namespace": ns, "labels": map[string]string{"app.kubernetes.io/name": "api"}},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{container("api")}, "initContainers": []any{container("migrate")},
		}}},
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": uid, "kind": map[string]string{"group": "apps", "version": "v1", "kind": "Deployment"},
		"namespace": ns, "name": "api", "operation": "CREATE",
		"userInfo": map[string]any{"username": "system:serviceaccount:ci:deployer"}, "object": object,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lockedBuffer is a log destination the adapter and validator share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// leaks names the secret values s holds, as written or as JSON escapes
// them (a PEM key's newline becomes \n, & becomes \u0026), and any line of
// a multi-line value.
func leaks(s string) []string {
	var out []string
	for name, v := range secretValues {
		escaped, _ := json.Marshal(v)
		forms := append([]string{v, strings.Trim(string(escaped), `"`)}, strings.Split(v, "\n")...)
		for _, form := range forms {
			if strings.Contains(s, form) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// TestSecretValuesAreNeverEchoed: a rollout whose env holds literal
// credentials is refused (enforce), warned about (warn) or recorded
// (audit) by the production policy, naming the container and variable;
// the value itself is in none of what shipgate says or writes: the
// answer (message, warnings, audit annotations), the audit record, and
// the JSON log.
func TestSecretValuesAreNeverEchoed(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, err := config.Parse("gateway.yaml", []byte(fuzzGateway))
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithPolicy(productionEngine(t)), WithOwners(cluster),
		WithIDs(sequence()), WithRecorder(NewAuditRecorder(l)), WithLogger(logger))
	h := Serve("validate", v, nil, nil, logger)

	tests := map[string]struct {
		ns      string
		allowed bool
	}{
		"enforce": {ns: "shop", allowed: false},
		"warn":    {ns: "dev-alice", allowed: true},
		"audit":   {ns: "sandbox-alice", allowed: true},
	}
	t.Run("modes", func(t *testing.T) {
		for mode, tc := range tests {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				body := secretsReview(t, "uid-secrets-"+mode, tc.ns)
				rec := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, r)
				answer := rec.Body.String()
				resp := postReview(t, h, "/validate", body) // a retry: answered again, not recorded twice
				if resp.Allowed != tc.allowed {
					t.Fatalf("allowed=%v, want %v: %s", resp.Allowed, tc.allowed, answer)
				}
				// The policy did see the secrets, so the test means something.
				said := resp.Result.Message + strings.Join(resp.Warnings, "\n") + resp.AuditAnnotations["reasons"]
				for _, want := range []string{"env AWS_ACCESS_KEY_ID holds what looks like an AWS access key", "env DATABASE_URL holds what looks like credentials in a URL"} {
					if !strings.Contains(said, want) {
						t.Errorf("the answer does not say %q: %s", want, answer)
					}
				}
				if leaked := leaks(answer); len(leaked) > 0 {
					t.Errorf("the answer echoes %v: %s", leaked, answer)
				}
			})
		}
	})
	entries, _, err := l.Query(t.Context(), audit.Filter{}, "", 100)
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit log: %d records (%v), want one per mode", len(entries), err)
	}
	records, _ := json.Marshal(entries)
	// The record holds every reason, the init container's too.
	if !strings.Contains(string(records), "container migrate: env GITHUB_TOKEN holds what looks like a GitHub token") {
		t.Errorf("the audit records lack the reasons: %s", records)
	}
	if leaked := leaks(string(records)); len(leaked) > 0 {
		t.Errorf("the audit records echo %v: %s", leaked, records)
	}
	if !strings.Contains(logs.String(), "holds what looks like") {
		t.Errorf("the JSON log lacks the reasons: %s", logs.String())
	}
	if leaked := leaks(logs.String()); len(leaked) > 0 {
		t.Errorf("the JSON log echoes %v: %s", leaked, logs.String())
	}
}

// TestSecretValuesInUnreadableObjectsAreNeverEchoed: when the object
// around a secret cannot be read (in a field /validate reads: the API
// server has validated the rest), the refusal that says where it went
// wrong does not quote the value, nor does the 400 for a body that is not
// JSON.
func TestSecretValuesInUnreadableObjectsAreNeverEchoed(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v := NewValidator(func() *config.GatewayConfig { return testConfig(t) }, WithOwners(cluster), WithIDs(sequence()), WithLogger(logger))
	h := Serve("validate", v, nil, nil, logger)
	key := secretValues["AWS_ACCESS_KEY_ID"]
	for name, containers := range map[string]string{
		"a secret in an object where the image belongs": fmt.Sprintf(`[{"name":"a","image":{"value":%q}}]`, key),
		"a secret in a list where a name belongs":       fmt.Sprintf(`[{"name":[%q],"image":"busybox:1.37"}]`, key),
		"a secret where a container belongs":            fmt.Sprintf(`[%q]`, key),
		"a secret before invalid UTF-8":                 fmt.Sprintf(`[{"name":"a","image":"busybox:1.37","env":[{"name":"K","value":"%s`, key) + "\xff" + `"}]}]`,
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(podReview(containers)))
			r.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusBadRequest && (rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"allowed":false`)) {
				t.Fatalf("HTTP %d %s, want a refusal or a 400", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), key) {
				t.Errorf("the answer echoes the key: %s", rec.Body)
			}
		})
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the JSON log echoes the key: %s", logs.String())
	}
}
