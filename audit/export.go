package audit

import (
	"context"
	"encoding/csv"
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
// time: FormatJSONL writes one Entry per line (the record in its canonical
// form, so a line can be rehashed to its leaf), FormatCSV one row per record
// with list fields joined by ";".
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter, format string) error {
	var write func(Entry) error
	var flush func() error
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		write = func(e Entry) error { return enc.Encode(e) }
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
