package audit_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	r := sample(1)
	r.Seq = 41
	got, err := audit.Canonical(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":41,"event":"admission","time":"2026-11-27T02:04:06.123456789Z",` +
		`"user":{"username":"dev-1","uid":"u-1","groups":["devs","system:authenticated"]},` +
		`"operation":"CREATE","kind":"Deployment","namespace":"prod","name":"api-1",` +
		`"images":[{"container":"api","ref":"registry.example.com/team/api:1.2","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001"}],` +
		`"evidence":{"signed":true,"tests":"PASSED","note":"<b>&"},"policyRevision":"rev-7","decision":"denied",` +
		`"reasons":["image registry.example.com/team/api:1.2 has no test attestation"],"decisionID":"d-1","replica":"gw-0"}`
	if string(got) != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}

	tests := map[string]func(*audit.Record){
		"the same instant in another zone": func(r *audit.Record) { r.Time = r.Time.In(time.FixedZone("X", -7*3600)) },
		"a monotonic clock reading":        func(r *audit.Record) { r.Time = r.Time.Round(0) },
		"an empty slice for nil":           func(r *audit.Record) { r.Approvals = []string{} },
		"evidence spaced differently": func(r *audit.Record) {
			r.Evidence = json.RawMessage("{\"signed\":true,\n \"tests\":\"PASSED\",\"note\":\"<b>&\"}")
		},
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := r
			change(&c)
			b, err := audit.Canonical(c)
			if err != nil || !bytes.Equal(b, got) {
				t.Errorf("Canonical = %s, %v; want the same bytes as before", b, err)
			}
		})
	}

	// The canonical JSON reads back to the same record and the same bytes.
	var back audit.Record
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	again, err := audit.Canonical(back)
	if err != nil || !bytes.Equal(again, got) || back.Seq != 41 || !back.Time.Equal(r.Time) {
		t.Errorf("round trip = %s (seq %d, %v), %v", again, back.Seq, back.Time, err)
	}
	if _, err := audit.Canonical(audit.Record{Event: "admission", Evidence: json.RawMessage("{not json")}); err == nil {
		t.Error("Canonical accepted evidence that is not JSON")
	}
}

func TestRepository(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{
		"registry.example.com/team/api:1.2":           "registry.example.com/team/api",
		"registry.example.com:5000/api@sha256:abc":    "registry.example.com:5000/api",
		"registry.example.com:5000/api:v1@sha256:abc": "registry.example.com:5000/api",
		"nginx":            "nginx",
		"localhost:5000/x": "localhost:5000/x",
	} {
		if got := audit.Repository(ref); got != want {
			t.Errorf("Repository(%q) = %q, want %q", ref, got, want)
		}
	}
}
