package audit

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// csvHeader names the CSV export's columns.
var csvHeader = []string{"seq", "time", "event", "decision", "operation", "kind", "namespace", "name",
	"username", "uid", "groups", "images", "reasons", "approvals", "policy_revision",
	"request_uid", "decision_id", "replica", "count", "first_seen", "last_seen", "redacted"}

// Export streams the records matching f to w, in seq order, a page at a
// time: FormatJSONL writes one ExportLine per line (the record in its
// canonical form, so a line can be rehashed to its leaf, and the leaf),
// FormatCSV one row per record with list fields joined by ";".
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter, format string) error {
	var write func(Entry) error
	var flush func() error
	var leaves map[uint64][]byte // the current page's, for JSONL
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		write = func(e Entry) error { return enc.Encode(ExportLine{Entry: e, Leaf: hex.EncodeToString(leaves[e.Seq])}) }
		flush = func() error { return nil }
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return fmt.Errorf("exporting the audit log: %w", err)
		}
		write = func(e Entry) error { return cw.Write(csvRow(e)) }
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		return fmt.Errorf("exporting the audit log as %q: %w", format, ErrUnknownFormat)
	}
	var from uint64
	for {
		page, err := l.scan(ctx, f, from, MaxLimit)
		if err != nil {
			return err
		}
		if format == FormatJSONL {
			if leaves, err = l.leavesOf(ctx, page); err != nil {
				return err
			}
		}
		for _, e := range page {
			if err := write(e); err != nil {
				return fmt.Errorf("exporting the audit log: %w", err)
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("exporting the audit log: %w", err)
		}
		if len(page) < MaxLimit {
			return nil
		}
		from = page[len(page)-1].Seq + 1
	}
}

// ExportLine is one line of a JSON Lines export: the entry and, in hex,
// the leaf the tree holds for it. A reader checks that the record hashes to
// the leaf and rebuilds the tree from the leaves (VerifySource); a redacted
// record no longer hashes to its leaf, which without this field only its
// redaction record, further on, names. The field is newer than the format:
// a reader that ignores unknown fields reads a line as an Entry as before,
// and VerifySource reads exports without it.
type ExportLine struct {
	Entry
	Leaf string `json:"leaf,omitempty"`
}

// leavesOf reads the stored leaves of a page's records.
func (l *Log) leavesOf(ctx context.Context, page []Entry) (map[uint64][]byte, error) {
	out := make(map[uint64][]byte, len(page))
	if len(page) == 0 {
		return out, nil
	}
	args := make([]any, len(page))
	for i, e := range page {
		args[i] = int64(e.Seq)
	}
	q := "SELECT seq, leaf FROM audit_log WHERE seq IN (?" + strings.Repeat(", ?", len(page)-1) + ")"
	rows, err := l.db.SQL().QueryContext(ctx, l.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("exporting the audit log: reading leaves: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var leaf []byte
		if err := rows.Scan(&seq, &leaf); err != nil {
			return nil, fmt.Errorf("exporting the audit log: reading leaves: %w", err)
		}
		out[uint64(seq)] = leaf
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("exporting the audit log: reading leaves: %w", err)
	}
	return out, nil
}

// csvRow is one record as CSV cells.
func csvRow(e Entry) []string {
	r := e.Record
	images := make([]string, len(r.Images))
	for i, im := range r.Images {
		images[i] = im.Container + "=" + im.Ref
		if im.Digest != "" && !strings.Contains(im.Ref, "@") {
			images[i] += "@" + im.Digest
		}
	}
	opt := func(t interface{ IsZero() bool }, s string) string {
		if t.IsZero() {
			return ""
		}
		return s
	}
	return []string{
		strconv.FormatUint(e.Seq, 10), formatTime(r.Time), r.Event, r.Decision, r.Operation, r.Kind, r.Namespace, r.Name,
		r.User.Username, r.User.UID, strings.Join(r.User.Groups, ";"), strings.Join(images, ";"),
		strings.Join(r.Reasons, ";"), strings.Join(r.Approvals, ";"), r.PolicyRevision,
		r.RequestUID, r.DecisionID, r.Replica, strconv.FormatUint(r.Count, 10),
		opt(r.FirstSeen, formatTime(r.FirstSeen)), opt(r.LastSeen, formatTime(r.LastSeen)), strconv.FormatBool(e.Redacted),
	}
}
