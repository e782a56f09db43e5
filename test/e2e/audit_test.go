package e2e

import (
	"context"
	"encoding/json"
	"testing"
)

// auditEntry is what `shipgate audit query -o json` prints per record.
type auditEntry struct {
	Seq    uint64 `json:"seq"`
	Record struct {
		Event     string `json:"event"`
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Decision  string `json:"decision"`
	} `json:"record"`
}

// testAuditVerifies stops shipgate (its last checkpoint is written on the
// way out) and checks the log with the CLI an auditor uses: it verifies
// against the checkpoint key, records the refusal, and holds nothing of
// the dry run.
func testAuditVerifies(ctx context.Context, t *testing.T, e *env) {
	if err := e.sg.Stop(); err != nil {
		t.Fatalf("stopping shipgate: %v", err)
	}
	out, err := e.sg.CLI(ctx, "audit", "verify", "--store", e.sg.StoreURL, "--key", e.sg.CheckpointPub())
	if err != nil {
		t.Fatal(err)
	}
	e.log.Printf("shipgate audit verify: %s", out)

	query := func(name string) []auditEntry {
		t.Helper()
		out, err := e.sg.CLI(ctx, "audit", "query", "--store", e.sg.StoreURL, "--name", name, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var entries []auditEntry
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("reading audit query output: %v\n%s", err, out)
		}
		return entries
	}
	denied := 0
	for _, en := range query(refusedName) {
		if en.Record.Namespace == enforced && en.Record.Decision == "denied" {
			denied++
		}
	}
	if denied == 0 {
		t.Errorf("no denied record of Deployment %s/%s in the audit log", enforced, refusedName)
	}
	if got := query(dryRunName); len(got) != 0 {
		t.Errorf("the dry run left %d audit records, want none: %+v", len(got), got)
	}
}
