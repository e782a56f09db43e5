package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"golang.org/x/mod/sumdb/note"
)

// testKey is a checkpoint key pair for tests.
type testKey struct {
	signer    note.Signer
	verifiers note.Verifiers
	vkey      string
}

func newKey(t testing.TB, origin string) testKey {
	t.Helper()
	skey, vkey, err := audit.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := audit.NewVerifiers(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, verifiers: vs, vkey: vkey}
}

// newLog opens a log over db, closed when the test ends.
func newLog(t testing.TB, db *store.DB, opts ...audit.Option) *audit.Log {
	t.Helper()
	l, err := audit.New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// base is the time test records start from: not UTC, to show it is stored
// as UTC.
var base = time.Date(2026, 11, 27, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))

// sample is the i-th test record: a denied Deployment rollout.
func sample(i int) audit.Record {
	return audit.Record{
		Event:     audit.EventAdmission,
		Time:      base.Add(time.Duration(i) * time.Second),
		User:      audit.User{Username: fmt.Sprintf("dev-%d", i%3), UID: "u-1", Groups: []string{"devs", "system:authenticated"}},
		Operation: "CREATE", Kind: "Deployment", Namespace: "prod", Name: fmt.Sprintf("api-%d", i),
		Images:         []audit.Image{{Container: "api", Ref: "registry.example.com/team/api:1.2", Digest: fmt.Sprintf("sha256:%064x", i)}},
		Evidence:       json.RawMessage(`{"signed": true, "tests": "PASSED", "note": "<b>&"}`),
		PolicyRevision: "rev-7",
		Decision:       audit.DecisionDenied,
		Reasons:        []string{"image registry.example.com/team/api:1.2 has no test attestation"},
		DecisionID:     fmt.Sprintf("d-%d", i),
		Replica:        "gw-0",
	}
}

// appendN appends sample(from)…sample(to-1) one at a time.
func appendN(t testing.TB, l *audit.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		seq, err := l.Append(context.Background(), sample(i))
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i) {
			t.Fatalf("record %d got seq %d", i, seq)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// querySeqs is the seqs of the first page, of up to limit records, that
// l.Query returns for f.
func querySeqs(t *testing.T, l *audit.Log, f audit.Filter, limit int) []uint64 {
	t.Helper()
	page, _, err := l.Query(t.Context(), f, "", limit)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range page {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// sqlSeqs is the single integer column of every row q returns.
func sqlSeqs(t *testing.T, db *store.DB, q string) []uint64 {
	t.Helper()
	rows, err := db.SQL().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, uint64(n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
