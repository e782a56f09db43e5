package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/approval/api"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// tokens is a static token file in the kube-apiserver's format.
const tokens = `t-ci,system:serviceaccount:ci:deployer,u-ci,"system:serviceaccounts"
t-alice,alice,u-alice,"release-managers"
t-bob,bob,u-bob,"release-managers"
t-frank,frank,u-frank,"release-managers"
t-carol,carol,u-carol,"sre-oncall"
t-dave,dave,u-dave,"developers"
t-mallory,mallory,u-mallory,"developers"
t-eve,eve,u-eve,"auditors"
`

// roles grants, in prod-* namespaces: approvers (release managers, the
// on-call SREs, and mallory by name, who is in no approver group) every
// verb; developers and CI get, list and create. eve may only list, and
// only in dev-*.
const roles = `roles:
- name: approver
  rules:
  - resources: [approvals]
    verbs: [get, list, create, approve, reject]
- name: requester
  rules:
  - resources: [approvals]
    verbs: [get, list, create]
- name: viewer
  rules:
  - resources: [approvals]
    verbs: [list]
bindings:
- role: approver
  namespaces: ["prod-*"]
  groups: [release-managers, sre-oncall]
  users: [mallory]
- role: requester
  namespaces: ["prod-*", "dev-*"]
  users: [dave, "system:serviceaccount:ci:deployer"]
- role: viewer
  namespaces: ["dev-*"]
  users: [eve]
`

var prodRule = &config.ApprovalRule{
	Approvers: 2, Groups: []string{"release-managers"}, BreakGlassGroups: []string{"sre-oncall"},
	Expiry: config.ApprovalExpiry{
		Pending: config.Duration{Duration: 72 * time.Hour}, Approved: config.Duration{Duration: 24 * time.Hour},
		BreakGlass: config.Duration{Duration: time.Hour},
	},
}

// newAPI serves the approval routes with the static token and role files.
func newAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, storetest.Dialects[0]))
	t.Cleanup(srv.Close)
	return srv.URL
}

// newHandler is the approval routes on a new store of dialect d.
func newHandler(t testing.TB, d store.Dialect) http.Handler {
	t.Helper()
	db := storetest.Open(t, d)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := audit.New(db, audit.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	rules := func(_ context.Context, ns string) ([]approval.Requirement, error) {
		if ok, _ := path.Match("prod-*", ns); ok {
			return []approval.Requirement{approval.FromRule(prodRule)}, nil
		}
		return nil, nil
	}
	svc, err := approval.New(db, l, approval.WithRules(rules), approval.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second); l.Close() })
	tf, err := auth.ParseTokenFile("tokens.csv", strings.NewReader(tokens))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := auth.ParseRoleFile("roles.yaml", []byte(roles))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	api.Register(r, svc, &httpapi.Guard{Authn: tf, Authz: rf})
	return r
}

// call makes one API call and returns the status and body.
func call(t *testing.T, base, token, method, url string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func manifest(ns, name string) map[string]any {
	obj := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q},
		"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},
		"spec":{"containers":[{"name":"app","image":"registry.example.com/shop/api:1.4.2"}]}}}}`, name, ns)
	return map[string]any{"object": json.RawMessage(obj)}
}

// create requests approval as token and returns the request id.
func create(t *testing.T, base, token, ns, name string) string {
	t.Helper()
	status, body := call(t, base, token, "POST", "/v1/approvals", manifest(ns, name))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var r approval.Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestAPIRefusals: each refusal through HTTP, with its status, error code
// and a message that says why.
func TestAPIRefusals(t *testing.T) {
	t.Parallel()
	base := newAPI(t)
	byCI := create(t, base, "t-ci", "prod-payments", "api")
	byAlice := create(t, base, "t-alice", "prod-payments", "worker")
	rejected := create(t, base, "t-ci", "prod-payments", "cron")
	if s, b := call(t, base, "t-bob", "POST", "/v1/approvals/"+rejected+"/reject", map[string]string{"comment": "not in the freeze"}); s != 200 {
		t.Fatalf("reject: %d %s", s, b)
	}
	if s, b := call(t, base, "t-bob", "POST", "/v1/approvals/"+byCI+"/approve", nil); s != 200 {
		t.Fatalf("first approval: %d %s", s, b)
	}

	tests := map[string]struct {
		token, method, url string
		body               any
		status             int
		code, says         string
	}{
		"no token":             {"", "GET", "/v1/approvals?namespace=prod-payments", nil, 401, "unauthenticated", "no bearer token"},
		"an unknown token":     {"t-nobody", "GET", "/v1/approvals/" + byCI, nil, 401, "unauthenticated", "unknown token"},
		"no list permission":   {"t-eve", "GET", "/v1/approvals?namespace=prod-payments", nil, 403, "forbidden", `eve may not list approvals.shipgate.dev in namespace "prod-payments"`},
		"listing everywhere":   {"t-alice", "GET", "/v1/approvals", nil, 403, "forbidden", `alice may not list approvals.shipgate.dev in namespace ""`},
		"no approve verb":      {"t-dave", "POST", "/v1/approvals/" + byCI + "/approve", nil, 403, "forbidden", "dave may not approve approvals.shipgate.dev"},
		"no create verb":       {"t-eve", "POST", "/v1/approvals", manifest("dev-x", "a"), 403, "forbidden", "eve may not create"},
		"self-approval":        {"t-alice", "POST", "/v1/approvals/" + byAlice + "/approve", nil, 403, "self-approval", "alice requested approval " + byAlice},
		"outside the groups":   {"t-mallory", "POST", "/v1/approvals/" + byCI + "/approve", nil, 403, "not-eligible", "mallory is not in release-managers"},
		"a double vote":        {"t-bob", "POST", "/v1/approvals/" + byCI + "/approve", nil, 409, "already-voted", "bob already approved"},
		"approve after reject": {"t-alice", "POST", "/v1/approvals/" + rejected + "/approve", nil, 409, "rejected", "was rejected by bob"},
		"break-glass without a reason": {"t-carol", "POST", "/v1/approvals/" + byCI + "/approve", map[string]any{"breakGlass": true}, 400, "bad-request",
			"a break-glass approval needs a reason"},
		"an unknown request":      {"t-alice", "GET", "/v1/approvals/abc", nil, 404, "not-found", `no approval request "abc"`},
		"a body that is not JSON": {"t-alice", "POST", "/v1/approvals/" + byCI + "/approve", "{comment", 400, "bad-request", "not the JSON expected"},
		"an unknown state":        {"t-alice", "GET", "/v1/approvals?namespace=prod-payments&state=done", nil, 400, "bad-request", `state "done"`},
		"a namespace without a rule": {"t-dave", "POST", "/v1/approvals", manifest("dev-x", "a"), 400, "no-approval-rule",
			"namespace dev-x asks for no approval"},
		"a manifest that is no workload": {"t-dave", "POST", "/v1/approvals", map[string]any{"namespace": "prod-x", "object": map[string]string{"apiVersion": "v1", "kind": "Secret"}},
			400, "bad-request", "v1 Secret is not a workload"},
		"identity in the body is ignored": {"t-ci", "POST", "/v1/approvals/" + byCI + "/approve", map[string]any{"user": "alice", "username": "alice"}, 403, "forbidden",
			"system:serviceaccount:ci:deployer may not approve"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, body := call(t, base, tc.token, tc.method, tc.url, tc.body)
			var e httpapi.ErrorBody
			_ = json.Unmarshal([]byte(body), &e)
			if status != tc.status || e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.says) {
				t.Errorf("%s %s as %q: %d %s\nwant %d %q saying %q", tc.method, tc.url, tc.token, status, body, tc.status, tc.code, tc.says)
			}
		})
	}
}

// TestAPIFlow: requested ahead of time by CI, listed, approved by two
// release managers, then found approved; asking again returns it.
func TestAPIFlow(t *testing.T) {
	t.Parallel()
	base := newAPI(t)
	id := create(t, base, "t-ci", "prod-payments", "api")
	if s, b := call(t, base, "t-ci", "POST", "/v1/approvals", manifest("prod-payments", "api")); s != 200 || !strings.Contains(b, id) {
		t.Fatalf("asking again: %d %s; want 200 with %s", s, b, id)
	}
	s, b := call(t, base, "t-alice", "GET", "/v1/approvals?namespace=prod-payments&state=pending", nil)
	var list struct{ Approvals []approval.Request }
	if err := json.Unmarshal([]byte(b), &list); s != 200 || err != nil || len(list.Approvals) != 1 || list.Approvals[0].ID != id {
		t.Fatalf("list: %d %s", s, b)
	}
	for _, who := range []string{"t-alice", "t-frank"} {
		if s, b := call(t, base, who, "POST", "/v1/approvals/"+id+"/approve", map[string]string{"comment": "ship it"}); s != 200 {
			t.Fatalf("%s approving: %d %s", who, s, b)
		}
	}
	s, b = call(t, base, "t-dave", "GET", "/v1/approvals/"+id, nil)
	var r approval.Request
	if err := json.Unmarshal([]byte(b), &r); s != 200 || err != nil || r.State != approval.Approved || len(r.Votes) != 2 || r.Votes[1].User.Name != "frank" {
		t.Fatalf("get: %d %s", s, b)
	}
	if s, b := call(t, base, "t-alice", "GET", "/v1/approvals?namespace=prod-payments&state=pending", nil); s != 200 || !strings.Contains(b, `"approvals":[]`) {
		t.Errorf("no pending requests left: %d %s", s, b)
	}
}
