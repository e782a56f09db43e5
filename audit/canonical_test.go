package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// canonicalCases are records whose strings encoding/json writes as they
// are, and records it escapes or whose embedded JSON it compacts or
// refuses.
var canonicalCases = []struct {
	name  string
	edit  func(*wire)
	plain bool // appendWire writes it itself
}{
	{"a denial", func(*wire) {}, true},
	{"no user, images or embedded JSON", func(w *wire) { w.User, w.Images, w.Evidence, w.Reasons = nil, nil, nil, nil }, true},
	{"an empty user and an empty image", func(w *wire) { w.User, w.Images = &User{}, []Image{{}} }, true},
	{"HTML, DEL and non-ASCII", func(w *wire) { w.Name, w.Reasons = "<b>&amp;\x7f", []string{"ü ✓ \U0010FFFF"} }, true},
	{"a count and both times", func(w *wire) {
		w.Count, w.FirstSeen, w.LastSeen = 1000, "2026-11-28T00:00:00.000000000Z", "2026-11-28T00:01:00.000000000Z"
	}, true},
	{"embedded JSON to compact", func(w *wire) {
		w.Evidence, w.Details = json.RawMessage(" {\"a\" : [1, 2],\n \"b\": null} "), json.RawMessage("null")
	}, true},
	{"a quote", func(w *wire) { w.Reasons = []string{`say "no"`} }, false},
	{"a backslash", func(w *wire) { w.User.Groups = []string{`domain\admins`} }, false},
	{"a newline", func(w *wire) { w.Images[0].Ref = "a\nb" }, false},
	{"a NUL", func(w *wire) { w.DecisionID = "d\x00" }, false},
	{"a line separator", func(w *wire) { w.PolicyRevision = "r\u2028" }, false},
	{"invalid UTF-8", func(w *wire) { w.Replica = "gw-\xff" }, false},
	{"embedded JSON that is not", func(w *wire) { w.Details = json.RawMessage("{bad") }, false},
}

// sampleWire is sampleRecord's wire.
func sampleWire() wire {
	r := sampleRecord()
	return newWire(&r)
}

// appendWire writes what encoding/json writes, or leaves the record to it.
func TestAppendWireIsEncodingJSON(t *testing.T) {
	for _, tc := range canonicalCases {
		t.Run(tc.name, func(t *testing.T) {
			w := sampleWire()
			tc.edit(&w)
			fast, ok := appendWire(nil, &w)
			want, err := wireJSON(&w)
			if ok != tc.plain {
				t.Fatalf("appendWire wrote it itself: %v, want %v", ok, tc.plain)
			}
			if ok && (err != nil || !bytes.Equal(fast, want)) {
				t.Errorf("appendWire:\n%s\nencoding/json (%v):\n%s", fast, err, want)
			}
		})
	}
}

func FuzzCanonicalBody(f *testing.F) {
	f.Add("alice", "devs", "prod", "api", "registry.example.com/a:1", "sha256:ab", `{"signed": true}`, "no attestation", uint64(0), "")
	f.Add("", "", "", "", "", "", "", "", uint64(7), "null")
	f.Add("a\"b", "c\\d", "\x00", "\u2028", "\xff", "<>&\x7f", " [1, 2 ] ", "ü", uint64(1), "{bad")
	f.Fuzz(func(t *testing.T, user, group, ns, name, ref, digest, evidence, reason string, count uint64, details string) {
		w := wire{
			Event: EventAdmission, Time: "2026-11-28T00:00:00.000000000Z", Namespace: ns, Name: name,
			Images: []Image{{Container: name, Ref: ref, Digest: digest}}, Evidence: json.RawMessage(evidence),
			Reasons: []string{reason, user}, Count: count, Details: json.RawMessage(details),
		}
		if user != "" || group != "" {
			w.User = &User{Username: user, Groups: []string{group}}
		}
		fast, ok := appendWire(nil, &w)
		if !ok {
			return
		}
		want, err := wireJSON(&w)
		if err != nil || !bytes.Equal(fast, want) {
			t.Errorf("appendWire:\n%q\nencoding/json (%v):\n%q", fast, err, want)
		}
	})
}

// sampleRecord is a denial with every field set.
func sampleRecord() Record {
	return Record{
		Event: EventAdmission, Time: time.Date(2026, 11, 28, 1, 2, 3, 4, time.UTC),
		User:      User{Username: "alice", UID: "u-1", Groups: []string{"devs", "system:authenticated"}},
		Operation: "CREATE", Kind: "Deployment", Namespace: "prod", Name: "api",
		Images:   []Image{{Container: "api", Ref: "registry.example.com/team/api:1.2", Digest: "sha256:" + strings.Repeat("a", 64)}},
		Evidence: json.RawMessage(`{"signed": true}`), PolicyRevision: "rev-7", Decision: DecisionDenied,
		Reasons: []string{"no test attestation"}, Approvals: []string{"ap-1", "ap-2"},
		RequestUID: "uid-1", DecisionID: "d-1", Replica: "gw-0",
	}
}

// A record's canonical body allocates its bytes and its time's text, not
// a copy of the record; one that needs encoding/json is still written by
// it.
func TestCanonicalBodyAllocatesItsBytesOnly(t *testing.T) {
	r := sampleRecord()
	want, err := wireJSON(ptr(sampleWire()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := canonicalBody(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("canonicalBody:\n%s (%v)\nwant:\n%s", got, err, want)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = canonicalBody(r) }); n != 2 {
		t.Errorf("canonicalBody allocates %v times per record, want 2 (its bytes and its time)", n)
	}
	r.Reasons = []string{`say "no"`}
	got, err = canonicalBody(r)
	if err != nil || !bytes.Contains(got, []byte(`"reasons":["say \"no\""]`)) || !bytes.Contains(got, []byte(`"user":{"username":"alice"`)) {
		t.Errorf("canonicalBody by encoding/json: %s (%v)", got, err)
	}
}

// The writer's leaves, hashed with one SHA-256 for a batch, are the tree's
// RFC 6962 leaves of each record's canonical JSON.
func TestBatchLeavesAreTheTreesLeaves(t *testing.T) {
	body, err := canonicalBody(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var rec []byte
	// Bodies of several lengths, a shorter after a longer, into one buffer.
	for _, seq := range []uint64{0, 9, 10, 1 << 40, 3} {
		b := body[:len(body)-int(seq%7)]
		rec = appendSeq(rec[:0], seq, b)
		if got, want := leafHash(h, rec), hasher.HashLeaf(withSeq(seq, b)); !bytes.Equal(got, want) {
			t.Errorf("seq %d: leaf %x, want %x", seq, got, want)
		}
		if !bytes.HasPrefix(rec, []byte(fmt.Sprintf(`{"seq":%d,"event":`, seq))) {
			t.Errorf("seq %d: record %s", seq, rec)
		}
	}
}

func ptr[T any](v T) *T { return &v }
