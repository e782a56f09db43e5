package webhook

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

func recordingValidator(t *testing.T, db *store.DB) (*Validator, *audit.Log) {
	t.Helper()
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := testConfig(t)
	return NewValidator(func() *config.GatewayConfig { return cfg },
		WithOwners(cluster), WithIDs(sequence()), WithRecorder(NewAuditRecorder(l)),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))), l
}

// TestRecordingRules: what reaches the audit log, against both stores.
func TestRecordingRules(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			v, l := recordingValidator(t, storetest.Open(t, dialect))
			steps := []struct {
				request string
				records uint64 // the log's size after it
			}{
				{"deployment-create", 1},                 // an admitted rollout
				{"deployment-create", 1},                 // the same uid retried
				{"replicaset-create-inherited", 1},       // inherited: counted on its rollout
				{"pod-create-inherited", 1},              // likewise
				{"deployment-update-scale", 1},           // not a rollout
				{"deployment-create-latest-dryrun", 1},   // a dry run writes nothing
				{"deployment-create-latest", 2},          // a denial
				{"deployment-create-latest-warn", 3},     // warn mode, with reasons
				{"deployment-create-latest-excluded", 3}, // excluded namespace
			}
			for _, st := range steps {
				req, err := DecodeReview(readRequest(t, st.request))
				if err != nil {
					t.Fatal(err)
				}
				v.Decide(t.Context(), req)
				if n, err := l.Size(t.Context()); err != nil || n != st.records {
					t.Fatalf("after %s the log holds %d records (%v), want %d", st.request, n, err, st.records)
				}
			}
			entries, _, err := l.Query(t.Context(), audit.Filter{}, "", 10)
			if err != nil || len(entries) != 3 {
				t.Fatalf("Query = %d entries, %v", len(entries), err)
			}
			first := entries[0].Record
			if first.Decision != "admitted" || first.Kind != "Deployment" || first.Namespace != "shop" || first.Name != "web" ||
				first.User.Username != "system:serviceaccount:ci:deployer" || len(first.Images) != 5 || first.DecisionID == "" {
				t.Errorf("rollout record %+v", first)
			}
			if d := entries[1].Record; d.Decision != "denied" || len(d.Reasons) != 2 {
				t.Errorf("denial record %+v", d)
			}
		})
	}
}

// TestUnrecordableRolloutIsRefused: with the store gone, an enforced
// namespace refuses an admitted rollout; a warn namespace lets it through
// with a warning.
func TestUnrecordableRolloutIsRefused(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	v, _ := recordingValidator(t, db)
	db.Close()

	req, _ := DecodeReview(readRequest(t, "deployment-create"))
	d := v.Decide(t.Context(), req)
	if d.Allowed || d.Code != 503 || !strings.Contains(d.Message(), "audit store unavailable") {
		t.Errorf("enforce: allowed=%v code=%d %q, want a 503 refusal", d.Allowed, d.Code, d.Message())
	}
	req, _ = DecodeReview(readRequest(t, "deployment-create-latest-warn"))
	d = v.Decide(t.Context(), req)
	if !d.Allowed || !strings.Contains(strings.Join(d.Warnings, " "), "not recorded in the audit log") {
		t.Errorf("warn: allowed=%v warnings=%q, want allowed with a warning", d.Allowed, d.Warnings)
	}
}

// TestRetriedDenialsAreCoalesced: a retry loop of 1,000 identical denials
// makes one record with its count and first and last time; a different
// object makes its own; an admitted rollout is written at once.
func TestRetriedDenialsAreCoalesced(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := NewAuditRecorder(l, WithDenialWindow(time.Hour))
	cfg := testConfig(t)
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithOwners(cluster), WithRecorder(rec),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))

	body := string(readRequest(t, "deployment-create-latest"))
	for i := range 1000 {
		req, err := DecodeReview([]byte(strings.Replace(body, `"uid": "705ab4f5`, fmt.Sprintf(`"uid": "%04d-retry`, i), 1)))
		if err != nil {
			t.Fatal(err)
		}
		if d := v.Decide(t.Context(), req); d.Allowed {
			t.Fatal("a latest image was admitted")
		}
	}
	other, _ := DecodeReview(readRequest(t, "cronjob-create-latest"))
	v.Decide(t.Context(), other)
	admitted, _ := DecodeReview(readRequest(t, "deployment-create"))
	v.Decide(t.Context(), admitted)
	if n, _ := l.Size(t.Context()); n != 1 {
		t.Fatalf("before the window closes the log holds %d records, want only the admitted rollout", n)
	}
	if err := rec.Flush(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	entries, _, err := l.Query(t.Context(), audit.Filter{Decision: "denied"}, "", 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("%d denial records (%v), want 2", len(entries), err)
	}
	counts := map[string]uint64{}
	for _, e := range entries {
		counts[e.Record.Kind] = e.Record.Count
		if e.Record.FirstSeen.IsZero() || e.Record.LastSeen.Before(e.Record.FirstSeen) {
			t.Errorf("%s: first %v last %v", e.Record.Kind, e.Record.FirstSeen, e.Record.LastSeen)
		}
	}
	if counts["Deployment"] != 1000 || counts["CronJob"] != 1 {
		t.Errorf("counts %v, want Deployment 1000 and CronJob 1", counts)
	}
}
