package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shipgate/shipgate/store"
)

// Filter selects records; every field set must match.
type Filter struct {
	Namespace  string
	Kind       string
	Name       string
	Repository string // an image repository prefix: registry.example.com/team
	Digest     string // an image digest: sha256:…
	User       string // username
	Decision   string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
}

// Entry is a record as queried, with its seq and whether it was redacted.
type Entry struct {
	Seq      uint64 `json:"seq"`
	Record   Record `json:"record"`
	Redacted bool   `json:"redacted,omitempty"`
}

// Query limits: a page holds DefaultLimit records unless asked otherwise,
// and never more than MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query returns up to limit records matching f, in seq order, starting
// where cursor (from a previous page; "" for the first) left off, and the
// cursor of the next page ("" after the last).
func (l *Log) Query(ctx context.Context, f Filter, cursor string, limit int) ([]Entry, string, error) {
	from, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	page, err := l.scan(ctx, f, from, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(page) <= limit {
		return page, "", nil
	}
	page = page[:limit]
	return page, encodeCursor(page[limit-1].Seq + 1), nil
}

// scan reads up to n matching entries with seq ≥ from.
func (l *Log) scan(ctx context.Context, f Filter, from uint64, n int) ([]Entry, error) {
	q, args := f.query(from, n, l.db.Dialect() == store.SQLite)
	rows, err := l.db.SQL().QueryContext(ctx, l.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("querying the audit log: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var seq int64
		var raw string
		var redacted int
		if err := rows.Scan(&seq, &raw, &redacted); err != nil {
			return nil, fmt.Errorf("querying the audit log: %w", err)
		}
		r, err := parseRecord([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("querying the audit log: record %d: %w", seq, err)
		}
		out = append(out, Entry{Seq: uint64(seq), Record: r, Redacted: redacted != 0})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying the audit log: %w", err)
	}
	return out, nil
}

// query is scan's query, with "?" placeholders; lists says the lookups
// are SQLite's lists.
func (f Filter) query(from uint64, n int, lists bool) (string, []any) {
	where, args := f.where(from, lists)
	return "SELECT seq, record, redacted FROM audit_log WHERE " + strings.Join(where, " AND ") + " ORDER BY seq LIMIT " + strconv.Itoa(n), args
}

// lookup is a subquery of the seqs that lookup i (listTables) holds for
// the condition cond on its key columns, from seq from on (and, from
// SQLite's lists, a few before it): from its lists when lists is set,
// else from its rows.
func lookup(i int, lists bool, cond string, args []any, from uint64) (string, []any) {
	if lists {
		t := listTables[i].table
		return "SELECT j.value FROM " + t + ", json_each(" + t + ".seqs) j WHERE " + cond + " AND last >= ?", append(args, int64(from))
	}
	return "SELECT seq FROM " + listTables[i].rows + " WHERE " + cond + " AND seq >= ?", append(args, int64(from))
}

// where turns a filter into SQL conditions with "?" placeholders, for the
// records from seq from on; lists says the lookups are SQLite's lists.
func (f Filter) where(from uint64, lists bool) ([]string, []any) {
	where, args := []string{"seq >= ?"}, []any{int64(from)}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	// A record is in the lookups by object, image, repository and user
	// once a step of index.go has added it (seq < audit_head.indexed);
	// until then it is found by its columns, its images by the JSON
	// column images (SQLite: PostgreSQL's indexed is always its size).
	tail := "SELECT seq FROM audit_log WHERE seq >= (SELECT indexed FROM audit_head WHERE id = 1) AND seq >= ? AND "
	// imageTail adds the condition that a record's seq is in q, a lookup's
	// seqs for an image condition, or, on SQLite, among the records not
	// yet in the lookups whose images column (imagesColumn) has a pair
	// with that digest, or a repository starting with that prefix.
	imageTail := func(q string, qArgs []any, digest, prefix string) {
		where, args = append(where, "seq IN ("+q), append(args, qArgs...)
		if !lists {
			where[len(where)-1] += ")"
			return
		}
		scan := " UNION ALL SELECT seq FROM audit_log"
		cond := " WHERE seq >= (SELECT indexed FROM audit_head WHERE id = 1) AND seq >= ? AND "
		args = append(args, int64(from))
		switch {
		case digest != "" && plainJSON(digest):
			// As JSON text, a pair's digest is the string after "[" and
			// before ","; its repository the one after "," and
			// before "]". A quote inside a string is escaped.
			cond += "instr(images, ?) > 0"
			args = append(args, `["`+digest+`",`)
		case prefix != "" && plainJSON(prefix):
			cond += "instr(images, ?) > 0"
			args = append(args, `","`+prefix)
		case digest != "":
			scan += ", json_each(audit_log.images) j"
			cond += "j.value ->> 0 = ?"
			args = append(args, digest)
		default:
			scan += ", json_each(audit_log.images) j"
			cond += "substr(j.value ->> 1, 1, ?) = ?"
			args = append(args, utf8.RuneCountInString(prefix), prefix) // substr counts characters
		}
		where[len(where)-1] += scan + cond + ")"
	}
	if f.Namespace != "" {
		object, objArgs := "namespace = ?", []any{f.Namespace}
		if f.Kind != "" {
			object, objArgs = object+" AND kind = ?", append(objArgs, f.Kind)
			if f.Name != "" {
				object, objArgs = object+" AND name = ?", append(objArgs, f.Name)
			}
		}
		q, qArgs := lookup(lookupObject, lists, object, slices.Clone(objArgs), from)
		where = append(where, "seq IN ("+q+" UNION ALL "+tail+object+")")
		args = append(append(append(args, qArgs...), int64(from)), objArgs...)
	}
	eq("namespace", f.Namespace)
	eq("kind", f.Kind)
	eq("name", f.Name)
	if f.User != "" {
		q, qArgs := lookup(lookupUser, lists, "username = ?", []any{f.User}, from)
		where = append(where, "seq IN ("+q+" UNION ALL "+tail+"username = ?)")
		args = append(append(args, qArgs...), int64(from), f.User)
	}
	eq("username", f.User)
	eq("decision", f.Decision)
	if f.Repository != "" {
		// The repositories with this prefix are a range of the lookup's
		// key. A stored repository is valid UTF-8 (clean), so the
		// prefix is cleaned the same way.
		p := clean(f.Repository)
		cond, condArgs := "repository >= ?", []any{p}
		if end, ok := prefixEnd(p); ok {
			cond, condArgs = cond+" AND repository < ?", append(condArgs, end)
		}
		q, qArgs := lookup(lookupRepository, lists, cond, condArgs, from)
		imageTail(q, qArgs, "", p)
	}
	if f.Digest != "" {
		q, qArgs := lookup(lookupImage, lists, "digest = ?", []any{f.Digest}, from)
		imageTail(q, qArgs, f.Digest, "")
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "recorded_at < ?")
		args = append(args, f.Until.UnixNano())
	}
	return where, args
}

// plainJSON says whether s is spelt the same inside a JSON string by
// every encoder that writes an images column (encoding/json, SQLite's
// json_array): printable ASCII that none of them escapes.
func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || strings.IndexByte(`"\<>&`, c) >= 0 {
			return false
		}
	}
	return true
}

// prefixEnd is the least string greater than every string that starts
// with p, comparing bytes, which for valid UTF-8 is comparing characters:
// p with its last character one further (past the surrogates, which UTF-8
// cannot spell). A last character that is the greatest there is gives way
// to the one before it; a p made only of those has no end.
func prefixEnd(p string) (string, bool) {
	r := []rune(p)
	for i := len(r) - 1; i >= 0; i-- {
		next := r[i] + 1
		if next == 0xD800 {
			next = 0xE000
		}
		if next <= unicode.MaxRune {
			r[i] = next
			return string(r[:i+1]), true
		}
	}
	return "", false
}

// cursorPrefix versions the cursor's form.
const cursorPrefix = "s1:"

func encodeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatUint(seq, 10)))
}

func decodeCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("reading cursor %q: %w", c, ErrBadCursor)
	}
	s, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, fmt.Errorf("reading cursor %q: %w", c, ErrBadCursor)
	}
	seq, err := strconv.ParseUint(s, 10, 63) // a seq is stored as an int64
	if err != nil {
		return 0, fmt.Errorf("reading cursor %q: %w", c, ErrBadCursor)
	}
	return seq, nil
}

// Repository is an image reference's repository: the reference without its
// digest and tag (registry.example.com/app:1.2@sha256:… →
// registry.example.com/app). It is not normalised: docker.io/library/nginx
// and nginx are different repositories here.
func Repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
