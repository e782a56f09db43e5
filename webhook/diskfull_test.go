package webhook

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
)

// faultGateway is both webhooks over a real store, a real signer and a
// loopback registry, for the store fault tests: defaults enforce, dev-*
// warn, one signed image pushed.
type faultGateway struct {
	db       *store.DB
	log      *audit.Log
	validate *Validator
	mutate   *Mutator
	metrics  *Metrics
	ref      string
	digest   string
	// admitted are the uids of rollouts answered allowed without a "not
	// recorded" warning: each must have exactly one record in the log.
	admitted []string
}

func newFaultGateway(t *testing.T, db *store.DB) *faultGateway {
	t.Helper()
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	imgs := signedtest.New(t)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\nnamespaces:\n- match: {names: [dev-*]}\n  mode: warn\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	g := &faultGateway{db: db, log: l, metrics: NewMetrics(prometheus.NewRegistry())}
	opts := []Option{
		WithVerifier(signer.New(cfg.Verification, trust)), WithPins(signer.StorePins(db)), WithRecorder(NewAuditRecorder(l)),
		WithOwners(cluster), WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithMetrics(g.metrics),
	}
	get := func() *config.GatewayConfig { return cfg }
	g.validate, g.mutate = NewValidator(get, opts...), NewMutator(get, opts...)
	g.ref, g.digest = imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	return g
}

// decide judges req and keeps its uid when it is an admitted rollout the
// answer did not call unrecorded.
func (g *faultGateway) decide(t *testing.T, req *Request) *Decision {
	t.Helper()
	d := g.validate.Decide(t.Context(), req)
	if d.Allowed && d.Class == "rollout" && !strings.Contains(strings.Join(d.Warnings, " "), "not recorded") {
		g.admitted = append(g.admitted, d.UID)
	}
	return d
}

// rollout is a CREATE of Deployment ns/name running the pushed image.
func (g *faultGateway) rollout(t *testing.T, uid, ns, name string) *Request {
	t.Helper()
	return reviewIn(t, uid, ns, "Deployment", "apps", deployerUser, deploymentJSON(name, g.ref))
}

// replicaSet is the deployment controller creating shop/web's ReplicaSet.
func (g *faultGateway) replicaSet(t *testing.T, uid string) *Request {
	t.Helper()
	rs := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-7d9c5b8f4","namespace":"shop",
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"a1b2c3d4-0000-4000-8000-000000000001","controller":true}]},
		"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, g.ref)
	return reviewIn(t, uid, "shop", "ReplicaSet", "apps", dpController, rs)
}

// checkInheritedPod: a Pod of shop/web's ReplicaSet is pinned to the
// rollout's digest by /mutate and admitted as inherited by /validate.
func (g *faultGateway) checkInheritedPod(t *testing.T, uid, when string) {
	t.Helper()
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d9c5b8f4-","namespace":"shop",
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9c5b8f4","uid":"a1b2c3d4-0000-4000-8000-000000000002","controller":true}]},
		"spec":{"containers":[{"name":"web","image":%q}]}}`, g.ref)
	req := reviewIn(t, uid, "shop", "Pod", "", rsController, pod)
	resp := g.mutate.Handle(t.Context(), req)
	if !strings.Contains(string(resp.Patch), g.ref+"@"+g.digest) {
		t.Errorf("a Pod of the admitted rollout %s was not pinned: patch %s warnings %q", when, resp.Patch, resp.Warnings)
	}
	if d := g.decide(t, req); !d.Allowed || d.Class != "inherited" {
		t.Errorf("a Pod of the admitted rollout %s: allowed=%v class %s %v", when, d.Allowed, d.Class, d.Reasons)
	}
}

// checkUnrecordedWarn: a warn namespace's rollout is let through with a
// warning that it was not recorded, counted once in
// shipgate_audit_unrecorded_total{mode="warn"} and never under enforce;
// a Pod of the rollout admitted earlier is still pinned and admitted.
func (g *faultGateway) checkUnrecordedWarn(t *testing.T, uid, when string) {
	t.Helper()
	if d := g.decide(t, g.rollout(t, uid, "dev-a", "tool")); !d.Allowed || !strings.Contains(strings.Join(d.Warnings, " "), "not recorded") {
		t.Errorf("a warn namespace's rollout %s: allowed=%v warnings %q, want allowed with a warning that it was not recorded", when, d.Allowed, d.Warnings)
	}
	if n := g.unrecorded(config.ModeWarn); n != 1 {
		t.Errorf("shipgate_audit_unrecorded_total{mode=\"warn\"} = %v, want 1", n)
	}
	if n := g.unrecorded(config.ModeEnforce); n != 0 {
		t.Errorf("shipgate_audit_unrecorded_total{mode=\"enforce\"} = %v, want 0: an enforced rollout is never let through unrecorded", n)
	}
	g.checkInheritedPod(t, "p1", when)
}

// awaitRecovery sends enforced rollouts, a tenth of a second apart, until
// one is admitted (at most 100), without restarting anything.
func (g *faultGateway) awaitRecovery(t *testing.T, prefix, after string) {
	t.Helper()
	for i := range 100 {
		if d := g.decide(t, g.rollout(t, fmt.Sprintf("%s-%d", prefix, i), "shop", "api")); d.Allowed {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the gateway did not recover %s", after)
}

// unrecorded is shipgate_audit_unrecorded_total{mode}.
func (g *faultGateway) unrecorded(mode config.Mode) float64 {
	return testutil.ToFloat64(g.metrics.unrecorded.WithLabelValues(string(mode)))
}

// checkEveryAdmissionRecorded closes the log, verifies it as `shipgate
// audit verify` does, and finds exactly one record for every rollout
// admitted without a "not recorded" warning.
func (g *faultGateway) checkEveryAdmissionRecorded(t *testing.T) {
	t.Helper()
	if err := g.log.Close(); err != nil {
		t.Errorf("closing the audit log: %v", err)
	}
	rep, err := audit.Verify(t.Context(), g.db, nil, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("the audit log does not verify: %v", err)
	}
	for _, uid := range g.admitted {
		var n int
		if err := g.db.SQL().QueryRowContext(t.Context(), g.db.Rebind("SELECT count(*) FROM audit_log WHERE request_uid = ?"), uid).Scan(&n); err != nil || n != 1 {
			t.Errorf("admitted rollout %s has %d records in the log (%v), want 1", uid, n, err)
		}
	}
	t.Logf("%d rollouts admitted and recorded; the log verifies (%d records)", len(g.admitted), rep.Size)
}

// smallFileSystem mounts a tmpfs of size bytes for the test and returns
// its path. Mounting needs root (CAP_SYS_ADMIN): without it the test
// fails saying so, rather than skipping unnoticed.
func smallFileSystem(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Fatalf("this test mounts a %d-byte tmpfs to fill it up, which needs root (CAP_SYS_ADMIN); run it as root, as .ci/run does", size)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on %s (needs root with CAP_SYS_ADMIN): %v: %s", dir, err, out)
	}
	// Registered after TempDir's removal, so it runs before it.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes file until the file system holding it is full, and returns
// how many bytes it took.
func fill(t *testing.T, file string) int {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096) // a tmpfs page: the last one fits exactly
	n := 0
	for {
		w, err := f.Write(block)
		n += w
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling the file system: %v", err)
		}
	}
}

// TestSQLiteDiskFull: the SQLite store on a 2 MiB file system that fills
// up. While it is full, an enforced rollout is refused as unrecordable, a
// warn namespace's is let through with a warning and counted in
// shipgate_audit_unrecorded_total, and Pods of a rollout admitted earlier
// are still pinned and admitted; once space is freed the gateway recovers
// by itself, the log verifies and every admitted rollout is in it.
func TestSQLiteDiskFull(t *testing.T) {
	dir := smallFileSystem(t, 2<<20)
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "shipgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g := newFaultGateway(t, db)

	if d := g.decide(t, g.rollout(t, "r1", "shop", "web")); !d.Allowed {
		t.Fatalf("before the disk filled: %v", d.Reasons)
	}
	if d := g.decide(t, g.replicaSet(t, "rs1")); !d.Allowed {
		t.Fatalf("the ReplicaSet: %v", d.Reasons)
	}

	filler := filepath.Join(dir, "filler")
	t.Logf("filled the file system with %d bytes", fill(t, filler))

	// Appends may still land in WAL pages SQLite had already allocated;
	// they are admitted, and recorded. The first that needs a new page is
	// refused; from then on every enforced rollout is.
	refusedAt := -1
	for i := range 500 {
		uid := fmt.Sprintf("full-%d", i)
		d := g.decide(t, g.rollout(t, uid, "shop", "api"))
		if !d.Allowed {
			if !strings.Contains(d.Message(), "audit store unavailable") {
				t.Fatalf("an enforced rollout on a full disk: refused with %q, want: audit store unavailable", d.Message())
			}
			refusedAt = i
			break
		}
	}
	if refusedAt < 0 {
		t.Fatal("500 enforced rollouts were admitted on a full disk: the disk never filled")
	}
	t.Logf("%d enforced rollouts admitted into already allocated pages before the first refusal", refusedAt)
	for i := range 5 {
		uid := fmt.Sprintf("refused-%d", i)
		if d := g.decide(t, g.rollout(t, uid, "shop", "api")); d.Allowed || !strings.Contains(d.Message(), "audit store unavailable") {
			t.Errorf("an enforced rollout on a full disk: allowed=%v %q, want refused: audit store unavailable", d.Allowed, d.Message())
		}
	}
	g.checkUnrecordedWarn(t, "w1", "on a full disk")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	g.awaitRecovery(t, "after", "once space was freed")
	if d := g.decide(t, g.rollout(t, "w2", "dev-a", "tool")); !d.Allowed || len(d.Warnings) != 0 {
		t.Errorf("a warn namespace's rollout once space was freed: allowed=%v warnings %q, want allowed and recorded", d.Allowed, d.Warnings)
	}
	g.checkEveryAdmissionRecorded(t)
}
