package webhook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// slowTiming keeps a second back from the API server's ?timeout=: the
// slack the assertions below leave a busy machine.
func slowTiming() (time.Duration, time.Duration) { return 10 * time.Second, time.Second }

// apiTimeout is the ?timeout= the tests send: the API server gives up
// after it, so every answer must come before.
const apiTimeout = 3 * time.Second

// deploymentReview is a CREATE of Deployment namespace/web running image.
func deploymentReview(uid, namespace, image string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,
		"kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},
		"namespace":%q,"name":"web","operation":"CREATE","userInfo":{"username":"system:serviceaccount:ci:deployer"},
		"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":%q},
		"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}}}`, uid, namespace, namespace, image)
}

// timed posts body with ?timeout= and fails the test unless the answer
// comes before the API server would have given up.
func timed(t *testing.T, h http.Handler, body []byte) (*admissionv1.AdmissionResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	resp := postReview(t, h, "/validate?timeout="+apiTimeout.String(), body)
	took := time.Since(start)
	t.Logf("after %v: allowed=%v code=%d %q warnings %q", took.Round(time.Millisecond), resp.Allowed, resp.Result.Code, resp.Result.Message, resp.Warnings)
	if took >= apiTimeout {
		t.Errorf("answered after %v, past the API server's %v timeout", took, apiTimeout)
	}
	return resp, took
}

// TestSlowRegistryIsAnsweredBeforeTheDeadline: a registry that accepts
// connections and never answers. An enforced namespace gets a refusal
// naming the image and the deadline, a warn namespace an admission with a
// warning naming the image — both before ?timeout= runs out, and both on
// the audit log.
func TestSlowRegistryIsAnsweredBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	imgs := signedtest.New(t)
	ref, _ := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	cfg, err := config.Parse("gateway.yaml", []byte(`apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults: {mode: enforce, trust: [test]}
namespaces:
- match: {names: ["dev-*"]}
  mode: warn
`+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // before the registry closes: it waits for its handlers
	imgs.Registry.SetFault(func(_ http.ResponseWriter, req *http.Request) bool {
		select {
		case <-req.Context().Done():
		case <-stop:
		}
		return true
	})
	l, err := audit.New(storetest.Open(t, store.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithVerifier(signer.New(cfg.Verification, trust)),
		WithRecorder(NewAuditRecorder(l)), WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	h := Serve("validate", v, slowTiming, nil, nil)

	resp, took := timed(t, h, deploymentReview("slow-1", "shop", ref))
	if resp.Allowed || resp.Result.Code != http.StatusGatewayTimeout ||
		!strings.Contains(resp.Result.Message, `image "`+ref+`" (container web): `) ||
		!strings.Contains(resp.Result.Message, "deciding took longer than the API server's timeout allows") {
		t.Errorf("enforce, after %v: allowed=%v code=%d %q, want a 504 refusal naming the image and the deadline", took, resp.Allowed, resp.Result.Code, resp.Result.Message)
	}
	resp, took = timed(t, h, deploymentReview("slow-2", "dev-team", ref))
	warnings := strings.Join(resp.Warnings, "\n")
	if !resp.Allowed || !strings.Contains(warnings, ref) || !strings.Contains(warnings, "timeout") {
		t.Errorf("warn, after %v: allowed=%v warnings %q, want allowed with a warning naming the image and the timeout", took, resp.Allowed, warnings)
	}
	if strings.Contains(warnings, "not recorded") {
		t.Error("the registry took the whole budget and left the audit append none")
	}
	if imgs.Registry.Requests() == 0 {
		t.Error("the registry was never asked: the test proves nothing")
	}
	// Both decisions are on the log: the time kept back for the append
	// was not spent waiting on the registry.
	for _, verdict := range []string{"denied", "warned"} {
		if entries, _, err := l.Query(t.Context(), audit.Filter{Decision: verdict}, "", 10); err != nil || len(entries) != 1 {
			t.Errorf("%d %s records (%v), want 1", len(entries), verdict, err)
		}
	}
}

// TestSlowAuditStoreIsAnsweredBeforeTheDeadline: another transaction holds
// the audit head, so the audit log cannot take a record. An admitted
// rollout is never answered unrecorded: an enforced namespace refuses it
// ("audit store unavailable") and a warn namespace admits it with a
// warning, both before ?timeout= runs out. Once the store is free again,
// the next rollout is admitted and recorded.
func TestSlowAuditStoreIsAnsweredBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, dialect)
			l, err := audit.New(db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			cfg := testConfig(t)
			v := NewValidator(func() *config.GatewayConfig { return cfg }, WithOwners(cluster), WithIDs(sequence()),
				WithRecorder(NewAuditRecorder(l)), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			h := Serve("validate", v, slowTiming, nil, nil)

			release := holdAuditHead(t, db)
			resp, took := timed(t, h, readRequest(t, "deployment-create"))
			if resp.Allowed || resp.Result.Code != http.StatusServiceUnavailable ||
				!strings.Contains(resp.Result.Message, "audit store unavailable, so the rollout cannot be recorded") ||
				!strings.Contains(resp.Result.Message, "deadline exceeded") {
				t.Errorf("enforce, after %v: allowed=%v code=%d %q, want a 503 refusal naming the audit store and the deadline", took, resp.Allowed, resp.Result.Code, resp.Result.Message)
			}
			resp, took = timed(t, h, readRequest(t, "deployment-create-latest-warn"))
			if warnings := strings.Join(resp.Warnings, "\n"); !resp.Allowed || !strings.Contains(warnings, "was admitted but not recorded in the audit log") {
				t.Errorf("warn, after %v: allowed=%v warnings %q, want allowed with a warning that it was not recorded", took, resp.Allowed, warnings)
			}

			release()
			body := strings.Replace(string(readRequest(t, "deployment-create")), "705ab4f5-6393-11e8-b7cc-000000000011", "after-the-store-came-back", 1)
			resp, _ = timed(t, h, []byte(body))
			if !resp.Allowed {
				t.Fatalf("with the store back: %q, want admitted", resp.Result.Message)
			}
			id := resp.AuditAnnotations["decision-id"]
			entries, _, err := l.Query(t.Context(), audit.Filter{Decision: "admitted"}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range entries {
				found = found || e.Record.DecisionID == id
			}
			if !found {
				t.Errorf("the rollout admitted as decision %s is not in the audit log", id)
			}
		})
	}
}

// holdAuditHead writes the audit head in a transaction of its own and
// keeps it open: PostgreSQL holds the row lock, SQLite the database's
// write lock. The returned func (also run at cleanup) rolls it back.
func holdAuditHead(t *testing.T, db *store.DB) func() {
	t.Helper()
	tx, err := db.SQL().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE audit_head SET size = size WHERE id = 1`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	release := func() { _ = tx.Rollback() }
	t.Cleanup(release)
	return release
}
