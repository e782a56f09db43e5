package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store/storetest"
)

// logSource is a log seen as VerifySource sees it through the API: the
// log's own Checkpoint and ConsistencyProof, and its JSONL export.
type logSource struct{ *audit.Log }

func (s logSource) Export(ctx context.Context) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.Log.Export(ctx, pw, audit.Filter{}, audit.FormatJSONL)) }()
	return pr, nil
}

// lyingProofs is a gateway that answers every consistency proof with the
// hashes of an empty tree.
type lyingProofs struct{ audit.Source }

func (lyingProofs) ConsistencyProof(context.Context, uint64, uint64) ([][]byte, error) {
	return [][]byte{make([]byte, 32), make([]byte, 32)}, nil
}

// leafless is a gateway older than the export's leaf field.
type leafless struct{ audit.Source }

func (s leafless) Export(ctx context.Context) (io.ReadCloser, error) {
	rc, err := s.Source.Export(ctx)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		enc := json.NewEncoder(pw)
		enc.SetEscapeHTML(false) // records hold "<b>&", hashed as they are
		for sc.Scan() {
			var line map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				pw.CloseWithError(err)
				return
			}
			delete(line, "leaf")
			if err := enc.Encode(line); err != nil {
				return
			}
		}
		pw.CloseWithError(sc.Err())
	}()
	return pr, nil
}

// TestVerifySourceDetectsTampering tampers with the database under a
// gateway and verifies through what its API shows: the latest checkpoint,
// the export and consistency proofs.
func TestVerifySourceDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tamper    func(t *testing.T, tl tamperLog)
		source    func(audit.Source) audit.Source
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
				b, _ := audit.Canonical(r)
				leaf, _ := audit.Leaf(r)
				tl.exec(t, "UPDATE audit_log SET record = ?, leaf = ?, decision = 'admitted' WHERE seq = 12", string(b), leaf)
				tl.rebuildHead(t)
			},
			seq: 20, says: "checkpoint at size 20: root differs",
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
		"the tail truncated, the checkpoint beyond the end": {
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
			seq: 10, says: "checkpoint at size 10 is older than the one an earlier verification saw at size 20: the log was truncated or rolled back",
		},
		"the latest checkpoint with a wrong root": {
			tamper: func(t *testing.T, tl tamperLog) {
				root := make([]byte, 32)
				tl.exec(t, "UPDATE audit_checkpoints SET root = ?, note = ? WHERE size = 20", root, signCheckpoint(t, tl.key.signer, 20, root))
			},
			seq: 20, says: "checkpoint at size 20: root differs",
		},
		"the latest checkpoint signed by another key": {
			tamper: func(t *testing.T, tl tamperLog) {
				var root []byte
				if err := tl.db.SQL().QueryRow("SELECT root FROM audit_checkpoints WHERE size = 20").Scan(&root); err != nil {
					t.Fatal(err)
				}
				other := newKey(t, tl.key.signer.Name())
				tl.exec(t, "UPDATE audit_checkpoints SET note = ? WHERE size = 20", signCheckpoint(t, other.signer, 20, root))
			},
			seq: 20, says: "checkpoint at size 20: signature does not verify",
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
		"a gateway whose consistency proof does not verify": {
			withState: true,
			tamper: func(t *testing.T, tl tamperLog) {
				appendN(t, newLog(t, tl.db, audit.WithCheckpoints(tl.key.signer, 5, time.Hour)), 20, 25)
			},
			source: func(s audit.Source) audit.Source { return lyingProofs{s} },
			seq:    20, says: "is not consistent with the one an earlier verification saw at size 20",
		},
	}
	for _, d := range storetest.Dialects {
		for name, tc := range tests {
			t.Run(string(d)+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				tl := newTamperLog(t, d)
				var src audit.Source = logSource{newLog(t, tl.db)}
				opts := audit.VerifyOptions{}
				if tc.withState {
					opts.StateFile = tl.state
				}
				if rep, err := audit.VerifySource(ctx, src, tl.key.verifiers, opts); err != nil || rep.Size != 20 || rep.Checkpoints != 1 {
					t.Fatalf("before tampering: VerifySource = %+v, %v", rep, err)
				}
				tc.tamper(t, tl)
				if tc.source != nil {
					src = tc.source(src)
				}
				_, err := audit.VerifySource(ctx, src, tl.key.verifiers, opts)
				var m *audit.Mismatch
				if !errors.As(err, &m) || m.Seq != tc.seq || !strings.Contains(m.Reason, tc.says) {
					t.Errorf("VerifySource = %v, want a mismatch at %d saying %q", err, tc.seq, tc.says)
				}
			})
		}
	}
}

// TestVerifySourceRedactionAndState: a redacted record verifies through
// the export; a grown log extends the remembered checkpoint; an export
// without leaves (an older gateway) verifies until a record is redacted.
func TestVerifySourceRedactionAndState(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			key := newKey(t, "shipgate.test/source")
			l := newLog(t, storetest.Open(t, d), audit.WithCheckpoints(key.signer, 4, 0))
			src := logSource{l}
			state := filepath.Join(t.TempDir(), "state.json")
			opts := audit.VerifyOptions{StateFile: state}

			if rep, err := audit.VerifySource(ctx, src, key.verifiers, opts); err != nil || rep.Size != 0 || rep.Checkpoints != 0 {
				t.Fatalf("an empty log: VerifySource = %+v, %v", rep, err)
			}
			appendN(t, l, 0, 10)
			if rep, err := audit.VerifySource(ctx, leafless{src}, key.verifiers, opts); err != nil || rep.Size != 10 || rep.Checkpoints != 1 {
				t.Fatalf("an export without leaves: VerifySource = %+v, %v", rep, err)
			}
			if _, err := l.Redact(ctx, 3, "a token in an env var", audit.User{Username: "sec"}); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 11, 13)
			rep, err := audit.VerifySource(ctx, src, key.verifiers, opts)
			if err != nil || rep.Size != 13 || rep.Redacted != 1 || rep.Checkpoints != 1 {
				t.Fatalf("after a redaction: VerifySource = %+v, %v", rep, err)
			}
			_, err = audit.VerifySource(ctx, leafless{src}, key.verifiers, opts)
			var m *audit.Mismatch
			if !errors.As(err, &m) || m.Seq != 3 || !strings.Contains(m.Reason, "the export gives no leaf for it") {
				t.Errorf("a redaction through an export without leaves: VerifySource = %v, want record 3 named", err)
			}
		})
	}
}
