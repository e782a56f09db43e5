package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestApprovalFlowThroughTheGateway: a production rollout is refused
// pending approval, with the request's id and how to approve; two release
// managers approve through the API; the same rollout is then admitted, its
// audit record naming the approval; the approval events are on the log,
// and the notification receiver heard of the request and its approval.
func TestApprovalFlowThroughTheGateway(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var mu sync.Mutex
	var heard []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Event string }
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		heard = append(heard, n.Event)
		mu.Unlock()
	}))
	defer receiver.Close()

	tokens := write("tokens.csv", "t-alice,alice,u1,release-managers\nt-bob,bob,u2,release-managers\nt-auditor,auditor,u3,auditors\n")
	roles := write("roles.yaml", `roles:
- {name: approver, rules: [{resources: [approvals], verbs: [get, list, create, approve, reject]}]}
- {name: reader, rules: [{resources: [auditevents], verbs: [get, list]}]}
bindings:
- {role: approver, namespaces: ["prod-*"], groups: [release-managers]}
- {role: reader, groups: [auditors]}
`)
	trust, signed := signedNginx(t)
	cfg := write("gateway.yaml", withTrust(gatewayEnforce, trust)+`namespaces:
- match: {names: ["prod-*"]}
  approval:
    approvers: 2
    groups: [release-managers]
    expiry: {pending: 72h, approved: 24h}
approvals:
  notify:
  - url: `+receiver.URL+`/hook
auth:
  tokenFile: `+tokens+`
  roleFile: `+roles+`
`)
	_, client, base := started(t, cfg)

	review := func(uid string) []byte {
		return []byte(strings.NewReplacer(`"uid":"1"`, `"uid":"`+uid+`"`, `"namespace":"shop"`, `"namespace":"prod-payments"`).Replace(string(signed)))
	}
	call := func(token, method, path string, body ...string) (int, string) {
		b := `{"comment":"ok"}`
		if len(body) > 0 {
			b = body[0]
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(answer)
	}

	r := validate(t, client, base, review("a1"))
	id := regexp.MustCompile(`approval request (\w+) is pending`).FindStringSubmatch(r.Result.Message)
	if r.Allowed || id == nil || !strings.Contains(r.Result.Message, "shipgate approvals approve "+id[1]) ||
		!strings.Contains(r.Result.Message, "POST /v1/approvals/"+id[1]+"/approve") {
		t.Fatalf("first apply: allowed=%v %q", r.Allowed, r.Result.Message)
	}
	// Asked ahead of time for the same manifest, the API resolves the
	// digest through the same signer and finds the same request.
	var rv struct {
		Request struct{ Object json.RawMessage } `json:"request"`
	}
	if err := json.Unmarshal(review("a0"), &rv); err != nil {
		t.Fatal(err)
	}
	if code, body := call("t-alice", "POST", "/v1/approvals", `{"object":`+string(rv.Request.Object)+`}`); code != 200 || !strings.Contains(body, `"id":"`+id[1]+`"`) {
		t.Fatalf("requesting the same rollout ahead of time: %d %s; want 200 with %s", code, body, id[1])
	}
	for _, who := range []string{"t-alice", "t-bob"} {
		if code, body := call(who, "POST", "/v1/approvals/"+id[1]+"/approve"); code != 200 {
			t.Fatalf("%s approving: %d %s", who, code, body)
		}
	}
	if r := validate(t, client, base, review("a2")); !r.Allowed {
		t.Fatalf("the approved rollout was refused: %s", r.Result.Message)
	}

	code, body := call("t-auditor", "GET", "/v1/audit/events?namespace=prod-payments")
	var page struct {
		Events []struct {
			Record struct {
				Event, Decision string
				Approvals       []string
			} `json:"record"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil {
		t.Fatalf("audit events: %d %s", code, body)
	}
	var got []string
	for _, e := range page.Events {
		got = append(got, e.Record.Event+":"+e.Record.Decision+":"+strings.Join(e.Record.Approvals, ","))
	}
	a := id[1]
	// The denial itself is folded into its denial window's record, written
	// when the window closes.
	want := []string{"approval:requested:" + a, "approval:approved:" + a, "approval:approved:" + a,
		"approval:used:" + a, "admission:admitted:" + a}
	if !slices.Equal(got, want) {
		t.Errorf("audit log of prod-payments:\n got %q\nwant %q", got, want)
	}
	waitFor(t, "the receiver to hear of the request and its approval", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(heard, []string{"created", "approved"})
	})
}
