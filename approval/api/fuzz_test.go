package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// send makes one call to h as token and returns the recorded answer.
func send(h http.Handler, token, method, target string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails t on a 5xx, on a 4xx without an error code and a
// message, and on a 2xx that is not an approval request; it returns the
// request of a 2xx.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) *approval.Request {
	t.Helper()
	switch {
	case rec.Code >= 200 && rec.Code < 300:
		var r approval.Request
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.ID == "" || r.Namespace == "" || r.Kind == "" || r.State == "" {
			t.Fatalf("%s: %d with a body that is not an approval request (%v): %s", what, rec.Code, err, rec.Body)
		}
		return &r
	case rec.Code >= 400 && rec.Code < 500:
		var e httpapi.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: %d without an error code and message: %s", what, rec.Code, rec.Body)
		}
		return nil
	}
	t.Fatalf("%s: HTTP %d %s; want 2xx or 4xx", what, rec.Code, rec.Body)
	return nil
}

// FuzzApprovalBodies sends arbitrary bodies to the routes that read one,
// through gin, the real service and SQLite: POST /v1/approvals (a
// manifest, as CI), and approve and reject (a vote, as a release manager,
// on a request made for the purpose). Each answer is a 4xx with an error
// code and a message or a 2xx with the request; never a 5xx or a panic.
func FuzzApprovalBodies(f *testing.F) {
	for _, body := range []string{
		`{"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"prod-payments"},"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/shop/api:1.4.2"}]}}}}}`,
		`{"namespace":"prod-x","object":{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly"},"spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"busybox:1.37"}]}}}}}}}`,
		`{"namespace":"prod-x","object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"debug-"},"spec":{"containers":[{"name":"a","image":"x@sha256:` + strings.Repeat("0", 64) + `"}]}}}`,
		`{"namespace":"dev-x","object":{"apiVersion":"v1","kind":"Secret"}}`,
		`{"object":[]}`,
		`{"comment":"ship it"}`,
		`{"comment":"","breakGlass":true}`,
		`{"comment":"outage \u0000 now","breakGlass":true}`,
		``,
	} {
		for route := range uint8(3) {
			f.Add(route, []byte(body))
		}
	}
	h := newHandler(f, fuzzDialect())
	runs := 0
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		switch route % 3 {
		case 0:
			checkAnswer(t, "POST /v1/approvals", send(h, "t-ci", "POST", "/v1/approvals", body))
		default:
			runs++
			verb := []string{"", "approve", "reject"}[route%3]
			r := checkAnswer(t, "creating a request", send(h, "t-ci", "POST", "/v1/approvals", voteTarget(runs)))
			if r == nil {
				t.Fatal("no request to vote on")
			}
			checkAnswer(t, "POST "+verb, send(h, "t-alice", "POST", "/v1/approvals/"+r.ID+"/"+verb, body))
		}
	})
}

// fuzzDialect is the store the fuzz targets run on: SQLite, or PostgreSQL
// with SHIPGATE_FUZZ_STORE=postgres (under scripts/with-postgres.sh).
func fuzzDialect() store.Dialect {
	if os.Getenv("SHIPGATE_FUZZ_STORE") == "postgres" {
		return store.Postgres
	}
	return store.SQLite
}

// voteTarget is a manifest of a Deployment in prod-payments named after n,
// so that each vote has a pending request of its own.
func voteTarget(n int) []byte {
	return fmt.Appendf(nil, `{"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"f-%d","namespace":"prod-payments"},`+
		`"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/shop/api:1.4.2"}]}}}}}`, n)
}

// TestAPIRefusesHostileBodies: what a body can hold that a store cannot
// (a NUL, which PostgreSQL refuses in text) or that names nothing
// Kubernetes could hold is a 400 saying so, on both stores; never a 500.
func TestAPIRefusesHostileBodies(t *testing.T) {
	t.Parallel()
	deployment := func(ns, name string) string {
		return fmt.Sprintf(`{"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%s,"namespace":%s},`+
			`"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/shop/api:1.4.2"}]}}}}}`, name, ns)
	}
	tests := map[string]struct {
		vote       bool // the body is a vote on a pending request, else a manifest
		verb, body string
		says       string
	}{
		"a NUL in the object's namespace": {body: deployment(`"prod-\u0000"`, `"api"`), says: "NUL"},
		"a NUL in the object's name":      {body: deployment(`"prod-payments"`, `"api\u0000"`), says: "NUL"},
		"an escaped backslash before u0000 is no NUL, but no name either": {
			body: deployment(`"prod-payments"`, `"api\\u0000"`), says: `metadata.name \"api\\\\u0000\": a lowercase RFC 1123 subdomain`},
		"a NUL in the body's namespace": {body: `{"namespace":"prod-\u0000","object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"},` +
			`"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/shop/api:1.4.2"}]}}}}}`, says: "NUL"},
		"a name Kubernetes would refuse": {body: deployment(`"prod-payments"`, `"API with spaces"`), says: `metadata.name \"API with spaces\": a lowercase RFC 1123 subdomain`},
		"a namespace Kubernetes would refuse": {body: `{"namespace":"Prod_X","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"b:1"}]}}}`,
			says: `namespace \"Prod_X\": a lowercase RFC 1123 label`},
		"a NUL in a container name": {body: `{"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"prod-payments"},` +
			`"spec":{"template":{"spec":{"containers":[{"name":"app\u0000","image":"registry.example.com/shop/api:1.4.2"}]}}}}}`, says: "NUL"},
		"a NUL in an approval's comment": {vote: true, verb: "approve", body: `{"comment":"ship \u0000 it"}`, says: "NUL"},
		"a NUL in a rejection's comment": {vote: true, verb: "reject", body: `{"comment":"\u0000"}`, says: "NUL"},
		"a NUL in a break-glass reason":  {vote: true, verb: "approve", body: `{"comment":"outage\u0000","breakGlass":true}`, says: "NUL"},
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, d)
			n := 0
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					token, target := "t-ci", "/v1/approvals"
					if tc.vote {
						n++
						r := checkAnswer(t, "creating a request", send(h, "t-ci", "POST", "/v1/approvals", voteTarget(n)))
						if r == nil {
							t.Fatal("no request to vote on")
						}
						token, target = "t-alice", "/v1/approvals/"+r.ID+"/"+tc.verb
						if strings.Contains(tc.body, "breakGlass") {
							token = "t-carol"
						}
					}
					rec := send(h, token, "POST", target, []byte(tc.body))
					checkAnswer(t, target, rec)
					if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.says) {
						t.Errorf("POST %s %s: %d %s\nwant 400 saying %q", target, tc.body, rec.Code, rec.Body, tc.says)
					}
				})
			}
			// The same in a path or a query: 404 or 400, never 500.
			for target, want := range map[string]int{
				"/v1/approvals/a%00b":                    http.StatusNotFound,
				"/v1/approvals/%ff%fe":                   http.StatusNotFound,
				"/v1/approvals/a%00b/approve":            http.StatusNotFound,
				"/v1/approvals?namespace=prod-%00":       http.StatusBadRequest,
				"/v1/approvals?namespace=prod-%ff":       http.StatusBadRequest,
				"/v1/approvals?namespace=prod-x&limit=0": http.StatusBadRequest,
			} {
				method := "GET"
				if strings.HasSuffix(target, "/approve") {
					method = "POST"
				}
				rec := send(h, "t-alice", method, target, nil)
				checkAnswer(t, target, rec)
				if rec.Code != want {
					t.Errorf("%s %s: %d %s, want %d", method, target, rec.Code, rec.Body, want)
				}
			}
		})
	}
}
