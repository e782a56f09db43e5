package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/audit/api"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// readerRoles lets the token t-auditor list and get audit events in every
// namespace.
const readerRoles = `roles:
- name: auditor
  rules:
  - resources: [auditevents]
    verbs: [get, list]
bindings:
- role: auditor
  users: [auditor]
`

// t0 is when the first sample record was made; each next one is a minute
// later.
var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// samples are the records newAPI appends: two namespaces, kinds, users,
// decisions and image repositories.
func samples() []audit.Record {
	var rs []audit.Record
	for i := range 6 {
		r := audit.Record{
			Event: audit.EventAdmission, Time: t0.Add(time.Duration(i) * time.Minute),
			User:      audit.User{Username: []string{"alice", "system:serviceaccount:ci:deployer"}[i%2]},
			Operation: "CREATE", Kind: []string{"Deployment", "StatefulSet", "Pod"}[i%3],
			Namespace: []string{"prod-payments", "dev-alice"}[i%2], Name: "api",
			Images: []audit.Image{{Container: "api", Ref: "registry.example.com/shop/api:1.4.2",
				Digest: "sha256:" + strings.Repeat("a", 64)}},
			Decision:   []string{audit.DecisionAdmitted, audit.DecisionDenied, audit.DecisionWarned}[i%3],
			RequestUID: "uid-" + string(rune('a'+i)),
		}
		if i%2 == 1 {
			r.Images = append(r.Images, audit.Image{Container: "proxy", Ref: "docker.io/library/nginx:1.27",
				Digest: "sha256:" + strings.Repeat("b", 64)})
		}
		rs = append(rs, r)
	}
	return rs
}

// newAPI serves the audit routes over a log holding samples(), on a new
// store of dialect d, with a static token for an auditor.
func newAPI(t testing.TB, d store.Dialect) (http.Handler, *audit.Log) {
	t.Helper()
	h, l, err := serve(storetest.Open(t, d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return h, l
}

// serve appends samples() to a new log on db and serves it.
func serve(db *store.DB) (http.Handler, *audit.Log, error) {
	l, err := audit.New(db, audit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return nil, nil, err
	}
	for _, r := range samples() {
		if _, err := l.Append(context.Background(), r); err != nil {
			l.Close()
			return nil, nil, err
		}
	}
	tf, err := auth.ParseTokenFile("tokens.csv", strings.NewReader("t-auditor,auditor,u-auditor\n"))
	if err != nil {
		return nil, nil, err
	}
	rf, err := auth.ParseRoleFile("roles.yaml", []byte(readerRoles))
	if err != nil {
		return nil, nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	api.Register(r, l, &httpapi.Guard{Authn: tf, Authz: rf})
	return r, l, nil
}

// get calls path with the query string rawQuery, as it comes, as the
// auditor.
func get(h http.Handler, path, rawQuery string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.URL.RawQuery = rawQuery
	req.RequestURI = path + "?" + rawQuery
	req.Header.Set("Authorization", "Bearer t-auditor")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// eventsPage is the body of GET /v1/audit/events.
type eventsPage struct {
	Events []audit.Entry `json:"events"`
	Next   string        `json:"next"`
}

// TestEventsRefuseBadParameters: every parameter a caller can get wrong is
// answered 400 with a message naming it, on both stores: never a 500, and
// never a query that silently means something else.
func TestEventsRefuseBadParameters(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		query url.Values
		says  string
	}{
		"a cursor that is not base64":   {url.Values{"cursor": {"not a cursor!"}}, `reading cursor "not a cursor!": malformed cursor`},
		"a cursor of another form":      {url.Values{"cursor": {"eDox"}}, "malformed cursor"},
		"a cursor past any seq":         {url.Values{"cursor": {"czE6MTg0NDY3NDQwNzM3MDk1NTE2MTU"}}, "malformed cursor"}, // s1:18446744073709551615
		"a limit that is not a number":  {url.Values{"limit": {"ten"}}, "limit must be 1 to 1000"},
		"a limit of zero":               {url.Values{"limit": {"0"}}, "limit must be 1 to 1000"},
		"a limit too large":             {url.Values{"limit": {"1001"}}, "limit must be 1 to 1000"},
		"a limit past int64":            {url.Values{"limit": {"99999999999999999999"}}, "limit must be 1 to 1000"},
		"since that is not a time":      {url.Values{"since": {"yesterday"}}, "since must be an RFC 3339 time"},
		"until without a zone":          {url.Values{"until": {"2026-11-01T12:00:00"}}, "until must be an RFC 3339 time"},
		"a NUL in the namespace":        {url.Values{"namespace": {"prod\x00"}}, "namespace must be text without NUL"},
		"invalid UTF-8 in the name":     {url.Values{"name": {"api\xff"}}, "name must be valid UTF-8"},
		"invalid UTF-8 in a repository": {url.Values{"repository": {"registry.example.com/\xc3"}}, "repository must be valid UTF-8"},
		"a NUL in the digest":           {url.Values{"digest": {"sha256:\x00"}}, "digest must be text without NUL"},
		"a NUL in the user":             {url.Values{"user": {"\x00"}}, "user must be text without NUL"},
		"invalid UTF-8 in the kind":     {url.Values{"kind": {"\xc0\xaf"}}, "kind must be valid UTF-8"},
		"a NUL in the decision":         {url.Values{"decision": {"denied\x00"}}, "decision must be text without NUL"},
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h, _ := newAPI(t, d)
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					for _, path := range []string{"/v1/audit/events", "/v1/audit/export"} {
						if path == "/v1/audit/export" && (tc.query.Has("cursor") || tc.query.Has("limit")) {
							continue // export takes neither
						}
						rec := get(h, path, tc.query.Encode())
						var e httpapi.ErrorBody
						if err := json.Unmarshal(rec.Body.Bytes(), &e); rec.Code != http.StatusBadRequest || err != nil ||
							e.Error.Code != "bad-request" || !strings.Contains(e.Error.Message, tc.says) {
							t.Errorf("%s?%s: %d %s\nwant 400 bad-request saying %q", path, tc.query.Encode(), rec.Code, rec.Body, tc.says)
						}
					}
				})
			}
		})
	}
}

// TestEventsTimesOutsideWhatTheLogStores: since and until are stored as
// nanoseconds since 1970, which hold the years 1678 to 2262. A time
// outside them reads as the bound it passes, never as a wrapped-around
// number: since the year 1 is everything, until the year 9999 too.
func TestEventsTimesOutsideWhatTheLogStores(t *testing.T) {
	t.Parallel()
	h, _ := newAPI(t, storetest.Dialects[0])
	tests := map[string]struct {
		query url.Values
		want  int // events
	}{
		"since the year 1":                 {url.Values{"since": {"0001-01-01T00:00:00Z"}}, 6},
		"since 1500, until 9999":           {url.Values{"since": {"1500-06-01T00:00:00Z"}, "until": {"9999-12-31T23:59:59Z"}}, 6},
		"until the year 1":                 {url.Values{"until": {"0001-01-01T00:00:00Z"}}, 0},
		"since 9999":                       {url.Values{"since": {"9999-01-01T00:00:00Z"}}, 0},
		"since the third sample":           {url.Values{"since": {t0.Add(2 * time.Minute).Format(time.RFC3339)}, "namespace": {"prod-payments"}}, 2},
		"until the third sample, in +0200": {url.Values{"until": {t0.Add(2 * time.Minute).In(time.FixedZone("", 7200)).Format(time.RFC3339)}}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := get(h, "/v1/audit/events", tc.query.Encode())
			var page eventsPage
			if err := json.Unmarshal(rec.Body.Bytes(), &page); rec.Code != http.StatusOK || err != nil {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			n := 0
			for _, e := range page.Events {
				if e.Record.Event == audit.EventAdmission {
					n++
				}
			}
			if n != tc.want {
				t.Errorf("%d admission events, want %d: %s", n, tc.want, rec.Body)
			}
		})
	}
}
