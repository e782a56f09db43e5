package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// The phases of TestPostgresRestartUnderLoad, as a request sees them
// when it is sent and when it is answered.
const (
	phaseUp       = iota // before the stop
	phaseStopping        // pg_ctl stop running
	phaseDown            // stopped
	phaseStarting        // pg_ctl start running
	phaseBack            // started again
)

// TestPostgresRestartUnderLoad: the whole server over HTTPS, on its own
// PostgreSQL server, with the real signer and images signed in a loopback
// registry; eight clients send rollouts continuously (three enforced for
// each warn namespace's) while PostgreSQL is stopped for a few seconds and
// started again. Every answer must be an HTTP 200 AdmissionReview; every
// refusal "audit store unavailable"; every rollout answered allowed
// without a "not recorded" warning exactly once in the log; no enforced
// rollout admitted and no warn rollout recorded while the server was down;
// shipgate_audit_unrecorded_total{mode="warn"} equal to the warn answers
// that said "not recorded", each in the JSON log, and {mode="enforce"} 0;
// enforced rollouts admitted again after the restart without restarting
// the gateway; the log verifies with its signed checkpoints. Counted, not
// timed: the outage lasts at least 3 s and until enough answers came back
// from it.
func TestPostgresRestartUnderLoad(t *testing.T) {
	const (
		clients = 8
		// before, during and after are the answers each phase waits for:
		// enforced admissions before the stop and after the restart,
		// enforced refusals while PostgreSQL is down.
		before, during, after = 40, 16, 40
		// warnDuring is the warn namespace's "not recorded" answers the
		// outage waits for.
		warnDuring = 4
		outage     = 3 * time.Second
		// bound keeps a broken build from hanging; it is not asserted.
		bound = 90 * time.Second
	)
	pg := storetest.NewServer(t)
	skey, vkey, err := audit.GenerateKey(CheckpointOrigin)
	if err != nil {
		t.Fatal(err)
	}
	imgs := signedtest.New(t)
	ref, _ := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	cfg := configFile(t, fmt.Sprintf(`apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults: {mode: enforce, trust: [test]}
namespaces:
- match: {names: ["dev-*"]}
  mode: warn
audit:
  checkpointKey: {data: %q}
  checkpointEvery: {records: 100, interval: 1s}
`, skey)+imgs.TrustYAML(t, "test"))

	var logs lockedBuffer
	dir := t.TempDir()
	s, err := New(Options{
		ConfigFile: cfg,
		Addr:       "127.0.0.1:0",
		CertDir:    filepath.Join(dir, "certs"),
		StoreURL:   pg.URL,
		Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stopServer := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stopServer)
	_, c, base := clientFor(t, s)
	client := patient(c)

	var phase atomic.Int32
	type outcome struct {
		uid, ns                 string
		sent, answered          int32
		allowed, unrecordedWarn bool
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		fails    failures
		// counts by the phase a request was sent in and answered in.
		admittedEnforce [phaseBack + 1]atomic.Int64
		refusedDown     atomic.Int64
		warnDown        atomic.Int64
		uids            atomic.Int64
		stop            atomic.Bool
	)
	send := func(ns string) {
		n := uids.Add(1)
		uid := fmt.Sprintf("pgr-%d", n)
		body := rolloutIn(uid, ns, fmt.Sprintf("web-%d", n), ref)
		sent := phase.Load()
		a := admit(client, base+"/validate?timeout=10s", body)
		answered := phase.Load()
		o := outcome{uid: uid, ns: ns, sent: sent, answered: answered}
		switch {
		case a.err != nil:
			fails.add("%s (%s): %v", uid, ns, a.err)
			return
		case string(a.resp.UID) != uid:
			fails.add("%s: answered for uid %q", uid, a.resp.UID)
		}
		o.allowed = a.resp.Allowed
		warnings := strings.Join(a.resp.Warnings, " ")
		if ns == "shop" {
			switch {
			case a.resp.Allowed:
				admittedEnforce[answered].Add(1)
				if sent == phaseDown && answered == phaseDown {
					fails.add("%s: an enforced rollout was admitted while PostgreSQL was down", uid)
				}
			case a.resp.Result == nil || a.resp.Result.Code != http.StatusServiceUnavailable || !strings.Contains(a.resp.Result.Message, "audit store unavailable"):
				fails.add("%s: refused, but not for the audit store: %+v", uid, a.resp.Result)
			case sent == phaseDown && answered == phaseDown:
				refusedDown.Add(1)
			}
		} else {
			o.unrecordedWarn = strings.Contains(warnings, "not recorded")
			switch {
			case !a.resp.Allowed:
				fails.add("%s: a warn namespace's rollout was refused: %+v", uid, a.resp.Result)
			case sent == phaseDown && answered == phaseDown && !o.unrecordedWarn:
				fails.add("%s: a warn namespace's rollout was answered while PostgreSQL was down without a \"not recorded\" warning: %q", uid, a.resp.Warnings)
			case sent == phaseDown && answered == phaseDown:
				warnDown.Add(1)
			}
		}
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				ns := "shop"
				if (w+i)%4 == 3 {
					ns = "dev-team"
				}
				send(ns)
			}
		}()
	}
	// waitUntil polls cond within the bound; false means it gave up.
	waitUntil := func(cond func() bool) bool {
		for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	finish := func() {
		stop.Store(true)
		wg.Wait()
	}
	// A t.Fatal (PostgreSQL failing to start, say) must not leave the
	// clients running: this runs before the server is stopped.
	t.Cleanup(finish)

	if !waitUntil(func() bool { return admittedEnforce[phaseUp].Load() >= before }) {
		finish()
		fails.check(t, uids.Load())
		t.Fatalf("only %d enforced rollouts admitted before the stop", admittedEnforce[phaseUp].Load())
	}
	phase.Store(phaseStopping)
	pg.Stop(t)
	phase.Store(phaseDown)
	downAt := time.Now()
	gotDown := waitUntil(func() bool {
		return time.Since(downAt) >= outage && refusedDown.Load() >= during && warnDown.Load() >= warnDuring
	})
	downFor := time.Since(downAt)
	phase.Store(phaseStarting)
	pg.Start(t)
	phase.Store(phaseBack)
	if !gotDown {
		t.Errorf("in %v with PostgreSQL down: %d enforced refusals (want %d) and %d warn answers (want %d)", downFor.Round(time.Millisecond), refusedDown.Load(), during, warnDown.Load(), warnDuring)
	}
	recovered := waitUntil(func() bool { return admittedEnforce[phaseBack].Load() >= after })
	finish()
	if !recovered {
		t.Errorf("after PostgreSQL came back, only %d enforced rollouts were admitted in %v, want %d: the gateway did not recover by itself", admittedEnforce[phaseBack].Load(), bound, after)
	}
	fails.check(t, uids.Load())

	// The metric, read from the server's registry while it runs.
	unrecorded := gatheredCounter(t, s, "shipgate_audit_unrecorded_total")
	stopServer()

	var answeredUnrecorded, warns, refused int
	mustBeLogged := map[string]bool{}
	jsonLog := logs.String()
	for _, o := range outcomes {
		if o.ns != "shop" {
			warns++
		}
		if !o.allowed {
			refused++
		}
		if o.unrecordedWarn {
			answeredUnrecorded++
			if !strings.Contains(jsonLog, `"uid":"`+o.uid+`"`) {
				t.Errorf("%s was admitted unrecorded but is not in the JSON log", o.uid)
			}
		}
		if o.allowed && !o.unrecordedWarn {
			mustBeLogged[o.uid] = true
		}
	}
	if got := unrecorded[`mode="warn"`]; got != float64(answeredUnrecorded) || got < warnDuring {
		t.Errorf(`shipgate_audit_unrecorded_total{mode="warn"} = %v; %d warn answers said "not recorded" (want equal, at least %d)`, got, answeredUnrecorded, warnDuring)
	}
	if got := unrecorded[`mode="enforce"`]; got != 0 {
		t.Errorf(`shipgate_audit_unrecorded_total{mode="enforce"} = %v, want 0: an enforced rollout is never let through unrecorded`, got)
	}

	// The log, read from PostgreSQL as an auditor would once the gateway
	// has stopped.
	db, err := store.Open(t.Context(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	verifiers, err := audit.NewVerifiers(vkey)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), db, verifiers, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("the audit log does not verify after the restart: %v", err)
	}
	if rep.Checkpoints == 0 {
		t.Error("no signed checkpoint verified")
	}
	inLog := map[string]int{}
	rows, err := db.SQL().QueryContext(t.Context(), "SELECT request_uid FROM audit_log")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid); err != nil {
			t.Fatal(err)
		}
		inLog[uid]++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for uid := range mustBeLogged {
		if inLog[uid] != 1 {
			missing++
			if missing <= 10 {
				t.Errorf("%s was answered allowed and recorded, but the log holds %d records of it", uid, inLog[uid])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d admissions answered as recorded are not in the log exactly once", missing, len(mustBeLogged))
	}
	// The known gap (docs/reliability.md): a record queued before its
	// caller gave up may be committed after the answer. Counted, not failed.
	refusedButLogged, unrecordedButLogged := 0, 0
	for _, o := range outcomes {
		switch {
		case !o.allowed && inLog[o.uid] > 0:
			refusedButLogged++
		case o.unrecordedWarn && inLog[o.uid] > 0:
			unrecordedButLogged++
		}
	}
	t.Logf("%d rollouts sent (%d to the warn namespace) by %d clients; PostgreSQL down %v; enforced admitted %d before, %d across the stop and start, %d after; %d refused \"audit store unavailable\" (%d sent and answered while down); %d warn answers \"not recorded\" (%d while down), counted %v; %d answered as recorded, %d of them not in the log exactly once; log verifies: %d records, %d signed checkpoints; known gap: %d refused and %d \"not recorded\" rollouts are in the log anyway",
		len(outcomes), warns, clients, downFor.Round(time.Millisecond),
		admittedEnforce[phaseUp].Load(), admittedEnforce[phaseStopping].Load()+admittedEnforce[phaseDown].Load()+admittedEnforce[phaseStarting].Load(), admittedEnforce[phaseBack].Load(),
		refused, refusedDown.Load(), answeredUnrecorded, warnDown.Load(), unrecorded[`mode="warn"`],
		len(mustBeLogged), missing, rep.Size, rep.Checkpoints, refusedButLogged, unrecordedButLogged)
}

// rolloutIn is a Deployment CREATE of ns/name running image.
func rolloutIn(uid, ns, name, image string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":%q,"kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},
 "namespace":%q,"name":%q,"operation":"CREATE","userInfo":{"username":"ci"},
 "object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q},
  "spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}}}`, uid, ns, name, name, ns, image)
}

// gatheredCounter reads a counter family from s's metrics registry, by
// its label pairs as written in /metrics (`mode="warn"`).
func gatheredCounter(t *testing.T, s *Server, name string) map[string]float64 {
	t.Helper()
	families, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[strings.Join(labels, ",")] = m.GetCounter().GetValue()
		}
	}
	return out
}

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
