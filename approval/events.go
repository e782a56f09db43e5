package approval

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
)

// The actions of approval events: an approval record's Decision field, so
// `shipgate audit query --decision break-glass` finds them.
const (
	ActionRequested  = "requested"
	ActionApproved   = "approved" // one approval; Details.state says whether it completed the request
	ActionBreakGlass = "break-glass"
	ActionRejected   = "rejected"
	ActionExpired    = "expired"
	ActionUsed       = "used"
)

// eventUIDPrefix opens the RequestUID of an approval record. An event is
// marked appended by the transaction that appends it (appendEvent); two
// appends of one event racing (publish and Run's retry, or two replicas)
// are one record because the log appends a RequestUID once (on SQLite,
// within two minutes).
const eventUIDPrefix = "approval-event/"

// Details is the Details of an approval record in the audit log.
type Details struct {
	Request     string `json:"request"`
	Fingerprint string `json:"fingerprint"`
	// State is the request's state after the event.
	State     State    `json:"state"`
	Progress  string   `json:"progress,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Comment   string   `json:"comment,omitempty"`
	// BreakGlass flags a break-glass approval, and an admission it allowed.
	BreakGlass   bool     `json:"breakGlass,omitempty"`
	Requirements []string `json:"requirements,omitempty"`
	ExpiresAt    string   `json:"expiresAt,omitempty"`
}

// event is one approval event: its audit record and, for the events
// receivers hear of, what to notify.
type event struct {
	id     string
	rec    audit.Record
	notify string // "" or created, approved, rejected, expired
	req    Request
}

// record queues an event about r in the transaction: the audit record is
// stored beside the change it describes, appended to the log once the
// transaction commits. decision is the admission decision the event
// belongs to, if any.
func (t *txn) record(r *Request, action string, by auth.User, now time.Time, decision string, d Details) error {
	d.Request, d.Fingerprint, d.State = r.ID, r.Fingerprint, r.State
	if d.ExpiresAt == "" && r.State != Rejected && r.State != Expired {
		d.ExpiresAt = r.ExpiresAt.Format(time.RFC3339)
	}
	details, err := json.Marshal(d)
	if err != nil {
		return err
	}
	images := make([]audit.Image, len(r.Images))
	for i, im := range r.Images {
		images[i] = audit.Image{Container: im.Container, Ref: im.Ref, Digest: im.Digest}
	}
	ev := &event{id: newID(), req: *r}
	ev.rec = audit.Record{
		Event:      audit.EventApproval,
		Time:       now,
		User:       audit.User{Username: by.Name, UID: by.UID, Groups: by.Groups},
		Kind:       r.Kind,
		Namespace:  r.Namespace,
		Name:       r.Name,
		Images:     images,
		Decision:   action,
		Approvals:  []string{r.ID},
		RequestUID: eventUIDPrefix + ev.id,
		DecisionID: decision,
		Details:    details,
	}
	switch {
	case action == ActionRequested:
		ev.notify = "created"
	case action == ActionApproved && r.State == Approved, action == ActionBreakGlass:
		ev.notify = "approved"
	case action == ActionRejected, action == ActionExpired:
		ev.notify = action
	}
	rec, err := json.Marshal(ev.rec)
	if err != nil {
		return err
	}
	if _, err := t.q.ExecContext(t.ctx, t.s.db.Rebind(`INSERT INTO approval_events (id, request_id, record, created_at) VALUES (?, ?, ?, ?)`),
		ev.id, r.ID, string(rec), nanos(now)); err != nil {
		return fmt.Errorf("storing an approval event: %w", err)
	}
	t.events = append(t.events, ev)
	return nil
}

// publish appends a committed transaction's events to the audit log and
// notifies receivers. An append that fails is left for Run to retry.
func (s *Service) publish(ctx context.Context, events []*event) {
	for _, ev := range events {
		if err := s.appendEvent(ctx, ev.id, ev.rec); err != nil {
			s.opts.logger.Error("appending an approval event to the audit log; will retry",
				"request", ev.req.ID, "action", ev.rec.Decision, "error", err.Error())
		}
		if ev.notify != "" {
			s.notify.send(ev.notify, ev.req)
		}
	}
}

// appendEvent appends one stored event and marks it appended, in the
// transaction that appends it: an event the log holds is never left to
// append again, however late (on SQLite the log knows a uid for two
// minutes only). It is marked once more after, for a record appended
// without the mark (the uid already in the log).
func (s *Service) appendEvent(ctx context.Context, id string, rec audit.Record) error {
	mark := func(ctx context.Context, tx *sql.Tx) error {
		seq, ok := audit.AppendedSeq(ctx)
		if !ok {
			return fmt.Errorf("marking approval event %s appended: no seq", id)
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE approval_events SET audit_seq = ? WHERE id = ?`), int64(seq), id)
		return err
	}
	seq, err := s.audit.AppendWith(ctx, rec, mark)
	if err != nil {
		return err
	}
	_, err = s.db.SQL().ExecContext(ctx, s.db.Rebind(`UPDATE approval_events SET audit_seq = ? WHERE id = ?`), int64(seq), id)
	return err
}

// flushAll appends every stored event not yet in the audit log, oldest
// first.
func (s *Service) flushAll(ctx context.Context) error {
	rows, err := s.db.SQL().QueryContext(ctx, s.db.Rebind(`SELECT id, record FROM approval_events WHERE audit_seq IS NULL ORDER BY created_at, id LIMIT ?`), 500)
	if err != nil {
		return fmt.Errorf("reading approval events: %w", err)
	}
	type pending struct {
		id  string
		rec audit.Record
	}
	var todo []pending
	for rows.Next() {
		var p pending
		var raw string
		if err := rows.Scan(&p.id, &raw); err != nil {
			rows.Close()
			return fmt.Errorf("reading approval events: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &p.rec); err != nil {
			rows.Close()
			return fmt.Errorf("reading approval event %s: %w", p.id, err)
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range todo {
		if err := s.appendEvent(ctx, p.id, p.rec); err != nil {
			return fmt.Errorf("appending approval event %s: %w", p.id, err)
		}
	}
	return nil
}
