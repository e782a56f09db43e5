package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// The events a record can describe.
const (
	EventAdmission = "admission"
	EventApproval  = "approval"
	EventAuditRead = "audit-read"
	EventRedaction = "redaction"
)

// The decisions an admission record can carry.
const (
	DecisionAdmitted = "admitted"
	DecisionDenied   = "denied"
	DecisionWarned   = "warned"
	DecisionAudited  = "audited"
)

// timeLayout is RFC 3339 in UTC with exactly nine fractional digits, so a
// time has one spelling and sorts as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// User is who made a request, as the API server's userInfo names them.
type User struct {
	Username string   `json:"username,omitempty"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Image is one container's image as admitted: the reference as written and
// the digest it resolved to.
type Image struct {
	Container string `json:"container,omitempty"`
	Ref       string `json:"ref,omitempty"`
	Digest    string `json:"digest,omitempty"`
}

// Record is one entry of the audit log: who did what, when, where, and what
// shipgate decided. Seq is the record's position in the log; Append assigns
// it (a value passed in is ignored), and it is part of the canonical form, so
// a record cannot be moved to another position without changing its leaf.
type Record struct {
	Seq   uint64
	Event string    // EventAdmission, EventApproval, EventAuditRead, EventRedaction
	Time  time.Time // stored in UTC with nanoseconds; Append sets it when zero

	User User // who

	Operation      string // what: CREATE, UPDATE, …
	Kind           string
	Namespace      string
	Name           string
	Images         []Image
	Evidence       json.RawMessage // the verification evidence summary
	PolicyRevision string
	Decision       string // DecisionAdmitted, DecisionDenied, DecisionWarned, DecisionAudited
	Reasons        []string
	Approvals      []string // ids of the approvals used

	RequestUID string // where: the AdmissionRequest uid; a second record with it is not appended (Log.Append)
	DecisionID string
	Replica    string

	Count     uint64 // coalesced repeats: how many, first and last seen
	FirstSeen time.Time
	LastSeen  time.Time

	Details json.RawMessage // approval, redaction and read events
}

// wire is a Record's canonical JSON form without its seq: the field order is
// the declaration order, times are text in timeLayout, empty fields are left
// out.
type wire struct {
	Event          string          `json:"event"`
	Time           string          `json:"time"`
	User           *User           `json:"user,omitempty"`
	Operation      string          `json:"operation,omitempty"`
	Kind           string          `json:"kind,omitempty"`
	Namespace      string          `json:"namespace,omitempty"`
	Name           string          `json:"name,omitempty"`
	Images         []Image         `json:"images,omitempty"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	PolicyRevision string          `json:"policyRevision,omitempty"`
	Decision       string          `json:"decision,omitempty"`
	Reasons        []string        `json:"reasons,omitempty"`
	Approvals      []string        `json:"approvals,omitempty"`
	RequestUID     string          `json:"requestUID,omitempty"`
	DecisionID     string          `json:"decisionID,omitempty"`
	Replica        string          `json:"replica,omitempty"`
	Count          uint64          `json:"count,omitempty"`
	FirstSeen      string          `json:"firstSeen,omitempty"`
	LastSeen       string          `json:"lastSeen,omitempty"`
	Details        json.RawMessage `json:"details,omitempty"`
}

// Canonical is the record's canonical JSON, the bytes its leaf hashes: the
// seq first, then the fields in a fixed order, no HTML escaping, times in UTC
// RFC 3339 with nanoseconds. Embedded JSON (Evidence, Details) is compacted.
func Canonical(r Record) ([]byte, error) {
	body, err := canonicalBody(r)
	if err != nil {
		return nil, err
	}
	return withSeq(r.Seq, body), nil
}

// Leaf is the RFC 6962 leaf hash of the record's canonical JSON.
func Leaf(r Record) ([]byte, error) {
	b, err := Canonical(r)
	if err != nil {
		return nil, err
	}
	return rfc6962.DefaultHasher.HashLeaf(b), nil
}

// canonicalBody is the canonical JSON without the seq. Append computes it
// in the caller's goroutine, so the writer only splices the seq in.
func canonicalBody(r Record) ([]byte, error) {
	w := newWire(&r)
	if b, ok := appendWire(make([]byte, 0, 1024), &w); ok {
		return b, nil
	}
	return recordJSON(r)
}

// newWire is r as its canonical JSON lists it; its User points into r.
func newWire(r *Record) wire {
	w := wire{
		Event: r.Event, Time: formatTime(r.Time),
		Operation: r.Operation, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Images: r.Images, Evidence: r.Evidence, PolicyRevision: r.PolicyRevision,
		Decision: r.Decision, Reasons: r.Reasons, Approvals: r.Approvals,
		RequestUID: r.RequestUID, DecisionID: r.DecisionID, Replica: r.Replica,
		Count: r.Count, Details: r.Details,
	}
	if r.User.Username != "" || r.User.UID != "" || len(r.User.Groups) > 0 {
		w.User = &r.User
	}
	if !r.FirstSeen.IsZero() {
		w.FirstSeen = formatTime(r.FirstSeen)
	}
	if !r.LastSeen.IsZero() {
		w.LastSeen = formatTime(r.LastSeen)
	}
	return w
}

// recordJSON is canonicalBody by encoding/json. It takes its own copy of
// the record: handing encoding/json canonicalBody's wire, which points
// into canonicalBody's record, would put both on the heap for every
// record, not only for the few appendWire leaves to encoding/json.
func recordJSON(r Record) ([]byte, error) {
	w := newWire(&r)
	return wireJSON(&w)
}

// wireJSON is w encoded by encoding/json, HTML escaping off: the
// canonical body, which appendWire writes faster when it can.
func wireJSON(w *wire) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encoding a %s record: %w", w.Event, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// withSeq splices `"seq":N,` in front of a canonical body's first field.
func withSeq(seq uint64, body []byte) []byte {
	return appendSeq(make([]byte, 0, len(body)+28), seq, body)
}

// appendSeq appends withSeq's bytes to out.
func appendSeq(out []byte, seq uint64, body []byte) []byte {
	out = append(out, `{"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, ',')
	return append(out, body[1:]...)
}

// parseRecord reads a record's canonical JSON back.
func parseRecord(b []byte) (Record, error) {
	var w struct {
		Seq *uint64 `json:"seq"`
		wire
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Record{}, fmt.Errorf("decoding a record: %w", err)
	}
	if w.Seq == nil {
		return Record{}, fmt.Errorf("decoding a record: no seq")
	}
	r := Record{
		Seq: *w.Seq, Event: w.Event,
		Operation: w.Operation, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
		Images: w.Images, Evidence: w.Evidence, PolicyRevision: w.PolicyRevision,
		Decision: w.Decision, Reasons: w.Reasons, Approvals: w.Approvals,
		RequestUID: w.RequestUID, DecisionID: w.DecisionID, Replica: w.Replica,
		Count: w.Count, Details: w.Details,
	}
	if w.User != nil {
		r.User = *w.User
	}
	var err error
	if r.Time, err = parseTime(w.Time); err != nil {
		return Record{}, err
	}
	if r.FirstSeen, err = parseTime(w.FirstSeen); err != nil {
		return Record{}, err
	}
	if r.LastSeen, err = parseTime(w.LastSeen); err != nil {
		return Record{}, err
	}
	return r, nil
}

// MarshalJSON is Canonical.
func (r Record) MarshalJSON() ([]byte, error) { return Canonical(r) }

// UnmarshalJSON reads a record's canonical JSON.
func (r *Record) UnmarshalJSON(b []byte) error {
	got, err := parseRecord(b)
	if err != nil {
		return err
	}
	*r = got
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("decoding a record's time %q: %w", s, err)
	}
	return t, nil
}
