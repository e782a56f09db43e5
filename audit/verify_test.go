package audit_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// tamperLog is what a tampering case gets: 20 records, a checkpoint every 5,
// the head as it was at size 15, and a state file an earlier Verify wrote.
type tamperLog struct {
	db     *store.DB
	key    testKey
	head15 [2]any // size, range at 15 records
	state  string
}

func (tl tamperLog) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := tl.db.SQL().Exec(tl.db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// lookupTables are each lookup's table on PostgreSQL (a row per record)
// and on SQLite (lists), and its key column, for the lookups of one.
var lookupTables = map[string]struct{ rows, lists, col string }{
	"object":     {"audit_objects", "audit_object_lists", ""},
	"image":      {"audit_images", "audit_image_lists", "digest"},
	"repository": {"audit_repositories", "audit_repository_lists", "repository"},
	"user":       {"audit_users", "audit_user_lists", "username"},
}

// unlist takes record seq out of a lookup: its rows, or its seq out of
// every list.
func (tl tamperLog) unlist(t *testing.T, lookup string, seq int) {
	t.Helper()
	lt := lookupTables[lookup]
	if tl.db.Dialect() == store.Postgres {
		tl.exec(t, "DELETE FROM "+lt.rows+" WHERE seq = ?", seq)
		return
	}
	tl.exec(t, "UPDATE "+lt.lists+" SET seqs = (SELECT json_group_array(value) FROM json_each(seqs) WHERE value <> ?1) WHERE EXISTS (SELECT 1 FROM json_each(seqs) WHERE value = ?1)", seq)
}

// relist moves record seq, in a lookup of one column, from its key to key.
func (tl tamperLog) relist(t *testing.T, lookup, key string, seq int) {
	t.Helper()
	lt := lookupTables[lookup]
	if tl.db.Dialect() == store.Postgres {
		tl.exec(t, "UPDATE "+lt.rows+" SET "+lt.col+" = ? WHERE seq = ?", key, seq)
		return
	}
	tl.unlist(t, lookup, seq)
	tl.exec(t, "INSERT INTO "+lt.lists+" ("+lt.col+", last, seqs) VALUES (?1, ?2, json_array(?2))", key, seq)
}

func (tl tamperLog) row(t *testing.T, seq int) (record string, leaf []byte) {
	t.Helper()
	if err := tl.db.SQL().QueryRow(tl.db.Rebind("SELECT record, leaf FROM audit_log WHERE seq = ?"), seq).Scan(&record, &leaf); err != nil {
		t.Fatal(err)
	}
	return record, leaf
}

// signCheckpoint signs a checkpoint note for size and root with signer.
func signCheckpoint(t *testing.T, signer note.Signer, size uint64, root []byte) string {
	t.Helper()
	cp := log.Checkpoint{Origin: signer.Name(), Size: size, Hash: root}
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rebuildHead recomputes audit_head from the stored leaves, as a careful
// attacker would.
func (tl tamperLog) rebuildHead(t *testing.T) {
	t.Helper()
	rows, err := tl.db.SQL().Query("SELECT leaf FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for rows.Next() {
		var leaf []byte
		if err := rows.Scan(&leaf); err != nil {
			t.Fatal(err)
		}
		if err := rng.Append(leaf, nil); err != nil {
			t.Fatal(err)
		}
	}
	var raw []byte
	for _, h := range rng.Hashes() {
		raw = append(raw, h...)
	}
	tl.exec(t, `UPDATE audit_head SET size = ?, "range" = ? WHERE id = 1`, int64(rng.End()), raw)
}

// newTamperLog writes the log a tampering case starts from: 20 records
// and a checkpoint every 5.
func newTamperLog(t *testing.T, d store.Dialect) tamperLog {
	t.Helper()
	tl := tamperLog{db: storetest.Open(t, d), key: newKey(t, "shipgate.test/tamper")}
	tl.state = filepath.Join(t.TempDir(), "state.json")
	l := newLog(t, tl.db, audit.WithCheckpoints(tl.key.signer, 5, time.Hour))
	appendN(t, l, 0, 15)
	var size int64
	var rng []byte
	if err := tl.db.SQL().QueryRow(`SELECT size, "range" FROM audit_head`).Scan(&size, &rng); err != nil {
		t.Fatal(err)
	}
	tl.head15 = [2]any{size, rng}
	appendN(t, l, 15, 20)
	l.Close()
	return tl
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tamper    func(t *testing.T, tl tamperLog)
		seq       uint64
		says      string
		withState bool
	}{
		"a field of a record changed": {
			tamper: func(t *testing.T, tl tamperLog) {
				tl.exec(t, `UPDATE audit_log SET record = replace(record, '"decision":"denied"', '"decision":"admitted"'), decision = 'admitted' WHERE seq = 7`)
			},
			seq: 7, says: "record 7: leaf does not match its content",
		},
		"a field changed and its leaf recomputed": {
			tamper: func(t *testing.T, tl tamperLog) {
				r := sample(12)
				r.Seq, r.Decision, r.Time = 12, audit.DecisionAdmitted, r.Time.UTC()
				r.Replica = "gw-0"
				b, _ := audit.Canonical(r)
				leaf, _ := audit.Leaf(r)
				tl.exec(t, "UPDATE audit_log SET record = ?, leaf = ?, decision = 'admitted' WHERE seq = 12", string(b), leaf)
				tl.rebuildHead(t)
			},
			seq: 15, says: "checkpoint at size 15: root differs",
		},
		"a query column changed to hide a record": {
			tamper: func(t *testing.T, tl tamperLog) { tl.exec(t, "UPDATE audit_log SET namespace = 'dev' WHERE seq = 4") },
			seq:    4, says: "record 4: query columns do not match its content",
		},
		"a record taken out of the lookup by object": {
			tamper: func(t *testing.T, tl tamperLog) { tl.unlist(t, "object", 9) },
			seq:    9, says: "record 9: missing from the lookup by object",
		},
		"a record's image taken out of the lookup by image": {
			tamper: func(t *testing.T, tl tamperLog) { tl.unlist(t, "image", 11) },
			seq:    11, says: "record 11: image sha256:" + strings.Repeat("0", 62) + "0b of container api missing from the lookup by image",
		},
		"a record's image moved to another digest": {
			tamper: func(t *testing.T, tl tamperLog) { tl.relist(t, "image", "sha256:"+strings.Repeat("f", 64), 12) },
			seq:    12, says: "record 12: image sha256:" + strings.Repeat("0", 62) + "0c of container api missing from the lookup by image",
		},
		"a record taken out of the lookup by user": {
			tamper: func(t *testing.T, tl tamperLog) { tl.unlist(t, "user", 5) },
			seq:    5, says: "record 5: missing from the lookup by user",
		},
		"a record moved to another user in the lookup": {
			tamper: func(t *testing.T, tl tamperLog) { tl.relist(t, "user", "mallory", 6) },
			seq:    6, says: "record 6: missing from the lookup by user",
		},
		"a record taken out of the lookup by repository": {
			tamper: func(t *testing.T, tl tamperLog) { tl.unlist(t, "repository", 13) },
			seq:    13, says: "record 13: repository registry.example.com/team/api missing from the lookup by repository",
		},
		"a record moved to another repository in the lookup": {
			tamper: func(t *testing.T, tl tamperLog) { tl.relist(t, "repository", "registry.example.com/team/apx", 10) },
			seq:    10, says: "record 10: repository registry.example.com/team/api missing from the lookup by repository",
		},
		"a record deleted": {
			tamper: func(t *testing.T, tl tamperLog) {
				tl.exec(t, "DELETE FROM audit_log WHERE seq = 7")
				tl.rebuildHead(t)
			},
			seq: 7, says: "record 7 missing",
		},
		"two records' payloads swapped": {
			tamper: func(t *testing.T, tl tamperLog) {
				r3, _ := tl.row(t, 3)
				r4, _ := tl.row(t, 4)
				tl.exec(t, "UPDATE audit_log SET record = ? WHERE seq = 3", r4)
				tl.exec(t, "UPDATE audit_log SET record = ? WHERE seq = 4", r3)
			},
			seq: 3, says: "record 3: leaf does not match its content",
		},
		"two records swapped with their leaves": {
			tamper: func(t *testing.T, tl tamperLog) {
				r3, l3 := tl.row(t, 3)
				r4, l4 := tl.row(t, 4)
				tl.exec(t, "UPDATE audit_log SET record = ?, leaf = ?, name = 'api-4' WHERE seq = 3", r4, l4)
				tl.exec(t, "UPDATE audit_log SET record = ?, leaf = ?, name = 'api-3' WHERE seq = 4", r3, l3)
			},
			seq: 3, says: "record 3: holds record 4",
		},
		"the tail truncated, a checkpoint beyond the end": {
			tamper: func(t *testing.T, tl tamperLog) {
				tl.exec(t, "DELETE FROM audit_log WHERE seq >= 15")
				tl.exec(t, `UPDATE audit_head SET size = ?, "range" = ? WHERE id = 1`, tl.head15[0], tl.head15[1])
			},
			seq: 15, says: "record 15 missing: the checkpoint at size 20 covers it",
		},
		"the tail and its checkpoints truncated, seen by the state file": {
			withState: true,
			tamper: func(t *testing.T, tl tamperLog) {
				tl.exec(t, "DELETE FROM audit_log WHERE seq >= 15")
				tl.exec(t, "DELETE FROM audit_checkpoints WHERE size > 15")
				tl.exec(t, `UPDATE audit_head SET size = ?, "range" = ? WHERE id = 1`, tl.head15[0], tl.head15[1])
			},
			seq: 15, says: "record 15 missing: an earlier verification saw 20 records",
		},
		"the tail rewritten and its checkpoints deleted after an earlier verification": {
			withState: true,
			tamper: func(t *testing.T, tl tamperLog) {
				for seq := 10; seq < 20; seq++ {
					r := sample(seq)
					r.Seq, r.Reasons, r.Time = uint64(seq), nil, r.Time.UTC()
					b, _ := audit.Canonical(r)
					leaf, _ := audit.Leaf(r)
					tl.exec(t, "UPDATE audit_log SET record = ?, leaf = ? WHERE seq = ?", string(b), leaf, seq)
				}
				tl.rebuildHead(t)
				tl.exec(t, "DELETE FROM audit_checkpoints WHERE size > 10")
			},
			seq: 20, says: "checkpoint at size 20 (earlier verification): root differs",
		},
		"a checkpoint with a wrong root": {
			tamper: func(t *testing.T, tl tamperLog) {
				root := make([]byte, 32)
				tl.exec(t, "INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (12, ?, ?, 0)", root, signCheckpoint(t, tl.key.signer, 12, root))
			},
			seq: 12, says: "checkpoint at size 12: root differs",
		},
		"a checkpoint signed by another key": {
			tamper: func(t *testing.T, tl tamperLog) {
				var root []byte
				if err := tl.db.SQL().QueryRow("SELECT root FROM audit_checkpoints WHERE size = 10").Scan(&root); err != nil {
					t.Fatal(err)
				}
				other := newKey(t, tl.key.signer.Name())
				tl.exec(t, "UPDATE audit_checkpoints SET note = ? WHERE size = 10", signCheckpoint(t, other.signer, 10, root))
			},
			seq: 10, says: "checkpoint at size 10: signature does not verify",
		},
		"a record redacted in the database, without a redaction record": {
			tamper: func(t *testing.T, tl tamperLog) {
				raw, _ := tl.row(t, 6)
				var r audit.Record
				if err := json.Unmarshal([]byte(raw), &r); err != nil {
					t.Fatal(err)
				}
				r.Evidence, r.Reasons, r.Details = nil, nil, json.RawMessage(`{"redactedBy":20}`)
				b, _ := audit.Canonical(r)
				tl.exec(t, "UPDATE audit_log SET record = ?, redacted = 1 WHERE seq = 6", string(b))
			},
			seq: 6, says: "record 6: redacted without a redaction record",
		},
	}
	for _, d := range storetest.Dialects {
		for name, tc := range tests {
			t.Run(string(d)+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				tl := newTamperLog(t, d)
				opts := audit.VerifyOptions{}
				if tc.withState {
					opts.StateFile = tl.state
				}
				if rep, err := audit.Verify(ctx, tl.db, tl.key.verifiers, opts); err != nil || rep.Size != 20 || rep.Checkpoints != 4 {
					t.Fatalf("before tampering: Verify = %+v, %v", rep, err)
				}
				tc.tamper(t, tl)
				_, err := audit.Verify(ctx, tl.db, tl.key.verifiers, opts)
				var m *audit.Mismatch
				if !errors.As(err, &m) || m.Seq != tc.seq || !strings.Contains(m.Reason, tc.says) {
					t.Errorf("Verify = %v, want a mismatch at %d saying %q", err, tc.seq, tc.says)
				}
			})
		}
	}
}

// A record also in a lookup under a key it does not have would be found
// by a query for that key (which reads the columns of audit_log only for
// records not yet in the lookups), and Verify names it. A record listed twice
// under its own key is no problem: SQLite's lists may name it twice after
// a step cut short, and PostgreSQL's image rows once per container.
func TestVerifyChecksTheLookupsBothWays(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tl := newTamperLog(t, d)
			other := "sha256:" + strings.Repeat("e", 64)
			if d == store.SQLite {
				tl.exec(t, "INSERT INTO audit_user_lists (username, last, seqs) VALUES ('dev-0', 3, '[0,3]')")
			} else {
				tl.exec(t, "INSERT INTO audit_images (digest, seq, container, repository) SELECT digest, seq, 'sidecar', repository FROM audit_images WHERE seq = 3")
			}
			if rep, err := audit.Verify(ctx, tl.db, tl.key.verifiers, audit.VerifyOptions{}); err != nil || rep.Size != 20 {
				t.Fatalf("with record 3 listed twice: Verify = %+v, %v", rep, err)
			}
			if d == store.SQLite {
				tl.exec(t, "INSERT INTO audit_image_lists (digest, last, seqs) VALUES (?, 8, '[8]')", other)
			} else {
				tl.exec(t, "INSERT INTO audit_images (digest, seq, container, repository) VALUES (?, 8, 'api', 'registry.example.com/team/api')", other)
			}
			_, err := audit.Verify(ctx, tl.db, tl.key.verifiers, audit.VerifyOptions{})
			var m *audit.Mismatch
			if !errors.As(err, &m) || m.Seq != 8 || m.Reason != "record 8: in the lookups under a key it does not have" {
				t.Errorf("with record 8 under another digest too: Verify = %v", err)
			}
			page, _, err := newLog(t, tl.db).Query(ctx, audit.Filter{Digest: other}, "", 10)
			if err != nil || len(page) != 1 || page[0].Seq != 8 {
				t.Errorf("Query by the other digest = %+v, %v: the row Verify names is one a query would follow", page, err)
			}
		})
	}
}

// A record not yet in SQLite's lookups is found by digest and repository
// through its images column, so Verify checks that column against the
// record, and may find the record in the lists too (a step ran while
// Verify read the log, or a second writer's step moved indexed back).
// A record in the lookups may have none (written before migration 12).
func TestVerifyChecksTheImagesColumn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tl := newTamperLog(t, store.SQLite)
	tl.exec(t, "UPDATE audit_head SET indexed = 10")
	if rep, err := audit.Verify(ctx, tl.db, tl.key.verifiers, audit.VerifyOptions{}); err != nil || rep.Size != 20 {
		t.Fatalf("with records 10-19 in the lists and past indexed: Verify = %+v, %v", rep, err)
	}
	other := "sha256:" + strings.Repeat("e", 64)
	tl.exec(t, "UPDATE audit_log SET images = NULL WHERE seq = 3")
	tl.exec(t, "UPDATE audit_log SET images = json_array(json_array(?, 'registry.example.com/team/api')) WHERE seq IN (5, 14)", other)
	tl.exec(t, "UPDATE audit_log SET images = NULL WHERE seq = 16")
	tl.exec(t, "UPDATE audit_log SET images = '[]' WHERE seq = 17")
	rep, err := audit.Verify(ctx, tl.db, tl.key.verifiers, audit.VerifyOptions{})
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.Reason)
	}
	want := []string{
		"record 5: query columns do not match its content",
		"record 14: query columns do not match its content",
		"record 16: query columns do not match its content",
		"record 17: query columns do not match its content",
	}
	if !slices.Equal(got, want) || err == nil {
		t.Errorf("Verify = %v, problems %q, want %q", err, got, want)
	}
	page, _, err := newLog(t, tl.db).Query(ctx, audit.Filter{Digest: other}, "", 10)
	if err != nil || len(page) != 1 || page[0].Seq != 14 {
		t.Errorf("Query by the other digest = %+v, %v: the column Verify names is one a query would follow", page, err)
	}
}

func TestVerifyEmptyAndStateFile(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := storetest.Open(t, d)
			state := filepath.Join(t.TempDir(), "state.json")
			rep, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{StateFile: state})
			if err != nil || rep.Size != 0 {
				t.Fatalf("an empty log: Verify = %+v, %v", rep, err)
			}
			l := newLog(t, db)
			appendN(t, l, 0, 9)
			// The state file remembered size 0; the log grew: still fine, and
			// it now remembers 9 (no checkpoints: the verified head).
			if _, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{StateFile: state}); err != nil {
				t.Fatal(err)
			}
			(tamperLog{db: db}).exec(t, "DELETE FROM audit_log WHERE seq = 8")
			(tamperLog{db: db}).rebuildHead(t)
			_, err = audit.Verify(ctx, db, nil, audit.VerifyOptions{StateFile: state})
			var m *audit.Mismatch
			if !errors.As(err, &m) || m.Seq != 8 {
				t.Errorf("after removing the last record: Verify = %v, want record 8 missing", err)
			}
			if _, err := db.SQL().Exec("DELETE FROM audit_head"); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{}); err == nil || errors.As(err, new(*audit.Mismatch)) {
				t.Errorf("without a head: Verify = %v, want an error reading it", err)
			}
		})
	}
}
