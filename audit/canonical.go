package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendWire appends w as encoding/json writes it with HTML escaping off,
// without reflection, and says whether it could: it gives up on a string
// encoding/json would escape (plainString) and on embedded JSON that does
// not compact, and canonicalBody then asks encoding/json. Its output
// equals encoding/json's byte for byte (FuzzCanonicalBody); at 64 writers
// encoding a record by reflection had been most of a caller's CPU, which
// the writer waited on between batches.
func appendWire(b []byte, w *wire) ([]byte, bool) {
	ok := true
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		if !plainString(v) {
			ok = false
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		b = append(b, '"')
	}
	strs := func(name string, vs []string) {
		if len(vs) == 0 {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, `":[`...)
		for i, v := range vs {
			if !plainString(v) {
				ok = false
				return
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, v...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	raw := func(name string, v json.RawMessage) {
		if len(v) == 0 {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, `":`...)
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, v); err != nil {
			ok = false
			return
		}
		b = buf.Bytes()
	}
	// An object's first field has no comma before it: each object is
	// begun with a placeholder comma, replaced by its brace.
	open := func() int { return len(b) }
	closeObject := func(at int) {
		if len(b) == at {
			b = append(b, '{')
		} else {
			b[at] = '{'
		}
		b = append(b, '}')
	}

	top := open()
	str("event", w.Event, false)
	str("time", w.Time, false)
	if w.User != nil {
		b = append(b, `,"user":`...)
		at := open()
		str("username", w.User.Username, true)
		str("uid", w.User.UID, true)
		strs("groups", w.User.Groups)
		closeObject(at)
	}
	str("operation", w.Operation, true)
	str("kind", w.Kind, true)
	str("namespace", w.Namespace, true)
	str("name", w.Name, true)
	if len(w.Images) > 0 {
		b = append(b, `,"images":[`...)
		for i, im := range w.Images {
			if i > 0 {
				b = append(b, ',')
			}
			at := open()
			str("container", im.Container, true)
			str("ref", im.Ref, true)
			str("digest", im.Digest, true)
			closeObject(at)
		}
		b = append(b, ']')
	}
	raw("evidence", w.Evidence)
	str("policyRevision", w.PolicyRevision, true)
	str("decision", w.Decision, true)
	strs("reasons", w.Reasons)
	strs("approvals", w.Approvals)
	str("requestUID", w.RequestUID, true)
	str("decisionID", w.DecisionID, true)
	str("replica", w.Replica, true)
	if w.Count != 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, w.Count, 10)
	}
	str("firstSeen", w.FirstSeen, true)
	str("lastSeen", w.LastSeen, true)
	raw("details", w.Details)
	closeObject(top)
	return b, ok
}

// plainString says whether encoding/json, HTML escaping off, writes s as
// it is between quotes: valid UTF-8 without a control character, a quote,
// a backslash, or U+2028 and U+2029 (which it escapes for JavaScript).
func plainString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}
