package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
)

// FuzzEventsQuery sends arbitrary query parameters to GET /v1/audit/events
// and /v1/audit/export, through gin and the real log on SQLite: the answer
// is a 400 that says what is wrong, or a 200 whose every event matches the
// filter; never a 5xx, never a panic. extra is appended to the query
// string as it comes (repeated, badly escaped, format=…).
func FuzzEventsQuery(f *testing.F) {
	type params struct{ ns, kind, name, repo, digest, user, decision, since, until, cursor, limit, extra string }
	for _, p := range []params{
		{},
		{ns: "prod-payments", kind: "Deployment", decision: "admitted"},
		{repo: "docker.io/library", digest: "sha256:" + strings.Repeat("b", 64), user: "system:serviceaccount:ci:deployer"},
		{name: "api", since: "2026-11-01T12:02:00Z", until: "2026-11-01T12:04:00.5+01:00", limit: "2"},
		{cursor: "czE6Mw", limit: "1000", extra: "format=csv"},
		{since: "0001-01-01T00:00:00Z", until: "9999-12-31T23:59:59Z", extra: "namespace=dev-alice&namespace=x&limit=%zz"},
		{ns: "prod\x00", repo: "registry.example.com/\xc3", cursor: "czE6MTg0NDY3NDQwNzM3MDk1NTE2MTU", limit: "-1"},
	} {
		f.Add(p.ns, p.kind, p.name, p.repo, p.digest, p.user, p.decision, p.since, p.until, p.cursor, p.limit, p.extra)
	}
	// Every read is appended to the log, so the log grows with every
	// input; a fresh one every 500 inputs keeps exports from slowing down.
	var h http.Handler
	var closeLog func()
	fresh := func() error {
		if closeLog != nil {
			closeLog()
		}
		dir, err := os.MkdirTemp("", "fuzz-audit-api-")
		if err != nil {
			return err
		}
		db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "shipgate.db"))
		if err != nil {
			return err
		}
		var l *audit.Log
		if h, l, err = serve(db); err != nil {
			db.Close()
			return err
		}
		closeLog = func() { l.Close(); db.Close(); os.RemoveAll(dir) }
		return nil
	}
	// SHIPGATE_FUZZ_STORE=postgres (under scripts/with-postgres.sh) runs
	// on PostgreSQL instead, on one log throughout.
	postgres := os.Getenv("SHIPGATE_FUZZ_STORE") == "postgres"
	if postgres {
		h, _ = newAPI(f, store.Postgres)
	} else if err := fresh(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if closeLog != nil {
			closeLog()
		}
	})
	runs := 0
	f.Fuzz(func(t *testing.T, ns, kind, name, repo, digest, user, decision, since, until, cursor, limit, extra string) {
		if runs++; runs%500 == 0 && !postgres {
			if err := fresh(); err != nil {
				t.Fatal(err)
			}
		}
		q := url.Values{}
		for k, v := range map[string]string{"namespace": ns, "kind": kind, "name": name, "repository": repo, "digest": digest,
			"user": user, "decision": decision, "since": since, "until": until, "cursor": cursor, "limit": limit} {
			if v != "" {
				q.Set(k, v)
			}
		}
		raw := q.Encode()
		if extra != "" {
			raw += "&" + extra
		}
		// What gin reads: the first value of each parameter, as
		// net/url parses the query string.
		got, _ := url.ParseQuery(raw)
		for _, path := range []string{"/v1/audit/events", "/v1/audit/export"} {
			target := path + "?" + raw
			rec := get(h, path, raw)
			switch {
			case rec.Code == http.StatusBadRequest:
				var e httpapi.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("%s: 400 without an error code and message: %s", target, rec.Body)
				}
			case rec.Code != http.StatusOK:
				t.Fatalf("%s: HTTP %d %s; want 200 or 400", target, rec.Code, rec.Body)
			case path == "/v1/audit/events":
				var page eventsPage
				if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
					t.Fatalf("%s: %v: %s", target, err, rec.Body)
				}
				max := 100
				if s := got.Get("limit"); s != "" {
					max, _ = strconv.Atoi(s)
				}
				if len(page.Events) > max || (page.Next != "" && len(page.Events) != max) {
					t.Fatalf("%s: %d events and next %q, limit %d", target, len(page.Events), page.Next, max)
				}
				for _, e := range page.Events {
					checkMatches(t, target, got, e.Record)
				}
			default: // export
				if strings.Contains(rec.Body.String(), "# export failed") {
					t.Fatalf("%s: %s", target, rec.Body)
				}
				if got.Get("format") == "csv" {
					continue
				}
				sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var e audit.Entry
					if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
						t.Fatalf("%s: a line that is not an entry (%v): %s", target, err, sc.Bytes())
					}
					checkMatches(t, target, got, e.Record)
				}
			}
		}
	})
}

// checkMatches fails t unless r matches the filter in q.
func checkMatches(t *testing.T, target string, q url.Values, r audit.Record) {
	t.Helper()
	for param, v := range map[string]string{"namespace": r.Namespace, "kind": r.Kind, "name": r.Name, "user": r.User.Username, "decision": r.Decision} {
		if want := q.Get(param); want != "" && v != want {
			t.Fatalf("%s: a record with %s %q", target, param, v)
		}
	}
	if want := q.Get("digest"); want != "" && !slices.ContainsFunc(r.Images, func(i audit.Image) bool { return i.Digest == want }) {
		t.Fatalf("%s: a record without digest %q: %+v", target, want, r.Images)
	}
	if want := q.Get("repository"); want != "" && !slices.ContainsFunc(r.Images, func(i audit.Image) bool {
		return strings.HasPrefix(audit.Repository(i.Ref), want)
	}) {
		t.Fatalf("%s: a record without repository %q: %+v", target, want, r.Images)
	}
	if s := q.Get("since"); s != "" {
		if since, err := time.Parse(time.RFC3339Nano, s); err == nil && r.Time.Before(since) {
			t.Fatalf("%s: a record of %s", target, r.Time)
		}
	}
	if s := q.Get("until"); s != "" {
		if until, err := time.Parse(time.RFC3339Nano, s); err == nil && !r.Time.Before(until) {
			t.Fatalf("%s: a record of %s", target, r.Time)
		}
	}
}
