package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// auditEntry is what `shipgate audit query -o json` prints per record.
type auditEntry struct {
	Seq    uint64 `json:"seq"`
	Record struct {
		Event string `json:"event"`
		User  struct {
			Username string `json:"username"`
		} `json:"user"`
		Operation string   `json:"operation"`
		Kind      string   `json:"kind"`
		Namespace string   `json:"namespace"`
		Name      string   `json:"name"`
		Decision  string   `json:"decision"`
		Reasons   []string `json:"reasons"`
		Approvals []string `json:"approvals"`
		Images    []struct {
			Container string `json:"container"`
			Ref       string `json:"ref"`
			Digest    string `json:"digest"`
		} `json:"images"`
		Details json.RawMessage `json:"details"`
	} `json:"record"`
}

// wantRecord is a record the scenarios expect: for an admission the
// object, the decision and who asked; for an approval event the action
// as decision; for an audit read the API path read.
type wantRecord struct {
	Event     string
	Kind      string
	Namespace string
	Name      string
	Decision  string
	User      string
	Path      string
}

func (w wantRecord) String() string {
	s := fmt.Sprintf("%s by %s", w.Event, w.User)
	if w.Kind != "" {
		s += fmt.Sprintf(": %s %s/%s", w.Kind, w.Namespace, w.Name)
	}
	if w.Decision != "" {
		s += " " + w.Decision
	}
	if w.Path != "" {
		s += " " + w.Path
	}
	return s
}

// key is the entry as a wantRecord.
func (en auditEntry) key() wantRecord {
	r := en.Record
	w := wantRecord{Event: r.Event, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Decision: r.Decision, User: r.User.Username}
	if r.Event == "audit-read" {
		var d struct {
			Path string `json:"path"`
		}
		_ = json.Unmarshal(r.Details, &d)
		w.Path = d.Path
	}
	return w
}

// admission is the record of an admission decision.
func admission(kind, ns, name, decision, user string) wantRecord {
	return wantRecord{Event: "admission", Kind: kind, Namespace: ns, Name: name, Decision: decision, User: user}
}

// approvalEvent is the record of an approval event (requested, approved,
// used, …) on the approval request for a Deployment.
func approvalEvent(action, ns, name, user string) wantRecord {
	return wantRecord{Event: "approval", Kind: "Deployment", Namespace: ns, Name: name, Decision: action, User: user}
}

// expect notes records a scenario made.
func (e *env) expect(rs ...wantRecord) { e.want = append(e.want, rs...) }

// queryStore runs `shipgate audit query --store` on the stopped store
// with filters.
func queryStore(ctx context.Context, t *testing.T, e *env, filters ...string) []auditEntry {
	t.Helper()
	args := append([]string{"audit", "query", "--store", e.sg.StoreURL, "--limit", "1000", "-o", "json"}, filters...)
	out, err := e.sg.CLI(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	var entries []auditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("reading audit query output: %v\n%s", err, out)
	}
	return entries
}

// testAuditVerifies stops shipgate (its last checkpoint is written on the
// way out, and refusals still folding in their window are appended) and
// checks the log with the CLI an auditor uses: it verifies against the
// checkpoint key, and holds exactly the records the scenarios expect —
// each rollout, refusal, approval event and audit read once; nothing of
// the dry runs, the scale, or what controllers made under an admitted
// rollout.
func testAuditVerifies(ctx context.Context, t *testing.T, e *env) {
	if err := e.sg.Stop(); err != nil {
		t.Fatalf("stopping shipgate: %v", err)
	}
	out, err := e.sg.CLI(ctx, "audit", "verify", "--store", e.sg.StoreURL, "--key", e.sg.CheckpointPub())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "verified ") || !signedCheckpoints.MatchString(out) {
		t.Errorf("shipgate audit verify printed %q, want verified … and at least one signed checkpoint", out)
	}
	e.log.Printf("shipgate audit verify --store: %s", strings.TrimSpace(out))

	entries := queryStore(ctx, t, e)
	got := make([]string, len(entries))
	for i, en := range entries {
		got[i] = en.key().String()
	}
	want := make([]string, len(e.want))
	for i, w := range e.want {
		want[i] = w.String()
	}
	missing, unexpected := diff(want, got)
	for _, m := range missing {
		t.Errorf("the audit log lacks: %s", m)
	}
	for _, u := range unexpected {
		t.Errorf("the audit log holds a record no scenario made: %s", u)
	}
	for _, en := range entries {
		r := en.Record
		if r.Event != "admission" || r.Kind != "Deployment" || r.Namespace != prod || r.Name != prodName || r.Decision != "admitted" {
			continue
		}
		var d struct {
			Approvers []string `json:"approvers"`
		}
		_ = json.Unmarshal(r.Details, &d)
		if !slices.Equal(r.Approvals, []string{e.prodApproval}) || !slices.Equal(d.Approvers, []string{harness.Bob, harness.Carol}) {
			t.Errorf("the record admitting Deployment %s/%s names approvals %v and approvers %v, want [%s] and [%s %s]",
				prod, prodName, r.Approvals, d.Approvers, e.prodApproval, harness.Bob, harness.Carol)
		}
	}
	var b strings.Builder
	for _, en := range entries {
		fmt.Fprintf(&b, "\n  %3d %s", en.Seq, en.key())
	}
	if t.Failed() {
		t.Logf("the audit log:%s", b.String())
		return
	}
	e.log.Printf("the audit log holds exactly the %d records the scenarios made:%s", len(entries), b.String())
}

// diff compares two multisets of strings: what want has more of, and what
// got has more of.
func diff(want, got []string) (missing, unexpected []string) {
	count := map[string]int{}
	for _, w := range want {
		count[w]++
	}
	for _, g := range got {
		count[g]--
	}
	for k, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, k)
		}
		for ; n < 0; n++ {
			unexpected = append(unexpected, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	return missing, unexpected
}

// signedCheckpoints matches audit verify's report of at least one
// verified checkpoint.
var signedCheckpoints = regexp.MustCompile(`and [1-9][0-9]* signed checkpoints`)

// testAuditAPI: the auditor reads the signed rollout's record through the
// audit API (authorised by SubjectAccessReview on auditevents) and finds
// the digest CI signed; the deployer, without that role, is refused; and
// `shipgate audit verify --server` checks the log through the API. Each
// read the API serves is itself recorded.
func testAuditAPI(ctx context.Context, t *testing.T, e *env) {
	out, err := e.sg.API(ctx, harness.Auditor, "audit", "query", "-n", enforced, "--kind", "Deployment", "--name", signedName, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	e.expect(wantRecord{Event: "audit-read", User: harness.Auditor, Path: "/v1/audit/events"})
	var entries []auditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("reading audit query output: %v\n%s", err, out)
	}
	if len(entries) != 1 {
		t.Fatalf("the auditor found %d records of Deployment %s/%s, want 1 (inherited objects leave none):\n%s", len(entries), enforced, signedName, out)
	}
	rec := entries[0].Record
	if rec.Decision != "admitted" || len(rec.Images) != 1 || rec.Images[0].Digest != e.im.Digest(webTag) || rec.Images[0].Ref != e.im.Ref(webTag) {
		t.Errorf("the record of Deployment %s/%s: decision %q, images %+v; want admitted, %s at %s", enforced, signedName, rec.Decision, rec.Images, e.im.Ref(webTag), e.im.Digest(webTag))
	}

	out, err = e.sg.API(ctx, harness.Deployer, "audit", "query", "-n", enforced)
	if err == nil || !strings.Contains(out, "HTTP 403 forbidden") {
		t.Errorf("the deployer queried the audit log: want HTTP 403 forbidden, got %v:\n%s", err, out)
	}

	out, err = e.sg.API(ctx, harness.Auditor, "audit", "verify", "--key", e.sg.CheckpointPub())
	if err != nil {
		t.Fatal(err)
	}
	e.expect(wantRecord{Event: "audit-read", User: harness.Auditor, Path: "/v1/audit/export"},
		wantRecord{Event: "audit-read", User: harness.Auditor, Path: "/v1/audit/checkpoint"})
	if !signedCheckpoints.MatchString(out) {
		t.Errorf("shipgate audit verify --server checked no signed checkpoint:\n%s", out)
	}
	e.log.Printf("shipgate audit verify --server (as the auditor): %s", strings.TrimSpace(out))
}
