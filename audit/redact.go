package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Redaction is the Details of a redaction record: which record was
// redacted, the leaf it had (which the tree still holds), and why.
type Redaction struct {
	Seq    uint64 `json:"seq"`
	Leaf   string `json:"leaf"` // hex
	Reason string `json:"reason"`
}

// redactedDetails is the Details of a redacted record: the seq of the
// redaction record that explains it.
type redactedDetails struct {
	RedactedBy uint64 `json:"redactedBy"`
}

// Redact replaces record seq's payload with its redacted form — seq, time,
// event, who, and what it was about (operation, kind, namespace, name,
// images, decision, request and decision ids, replica) — and appends a
// redaction record naming seq, its leaf, the reason and who asked, in one
// transaction. The stored leaf is untouched, so the tree and every proof
// still hold; Verify accepts the redacted record because the redaction
// record names it.
func (l *Log) Redact(ctx context.Context, seq uint64, reason string, by User) (uint64, error) {
	if strings.TrimSpace(reason) == "" || by.Username == "" {
		return 0, fmt.Errorf("redacting record %d: a reason and who redacts are required: %w", seq, ErrInvalidArguments)
	}
	l.mu.RLock() // Close waits for a redaction under way
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	var raw string
	var leaf []byte
	var redacted int
	err := l.db.SQL().QueryRowContext(ctx, l.db.Rebind("SELECT record, leaf, redacted FROM audit_log WHERE seq = ?"), int64(seq)).Scan(&raw, &leaf, &redacted)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("redacting record %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("redacting record %d: %w", seq, err)
	}
	if redacted != 0 {
		return 0, fmt.Errorf("redacting record %d: %w", seq, ErrAlreadyRedacted)
	}
	orig, err := parseRecord([]byte(raw))
	if err != nil {
		return 0, fmt.Errorf("redacting record %d: %w", seq, err)
	}
	details, err := json.Marshal(Redaction{Seq: seq, Leaf: hex.EncodeToString(leaf), Reason: reason})
	if err != nil {
		return 0, fmt.Errorf("redacting record %d: %w", seq, err)
	}
	j, err := l.prepare(Record{Event: EventRedaction, Time: time.Now(), User: by, Details: details})
	if err != nil {
		return 0, fmt.Errorf("redacting record %d: %w", seq, err)
	}
	var rseq uint64
	err = l.db.InTx(ctx, func(tx *sql.Tx) error {
		seqs, _, err := l.appendTx(ctx, tx, []*job{j})
		if err != nil {
			return err
		}
		rseq = seqs[0]
		red, err := Canonical(redactedForm(orig, rseq))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, l.db.Rebind("UPDATE audit_log SET record = ?, redacted = 1 WHERE seq = ? AND redacted = 0"), string(red), int64(seq))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrAlreadyRedacted
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redacting record %d: %w", seq, err)
	}
	return rseq, nil
}

// redactedForm keeps a record's identity and drops its payload.
func redactedForm(r Record, by uint64) Record {
	d, _ := json.Marshal(redactedDetails{RedactedBy: by})
	return Record{
		Seq: r.Seq, Event: r.Event, Time: r.Time, User: r.User,
		Operation: r.Operation, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Images: r.Images, Decision: r.Decision,
		RequestUID: r.RequestUID, DecisionID: r.DecisionID, Replica: r.Replica,
		Details: d,
	}
}
