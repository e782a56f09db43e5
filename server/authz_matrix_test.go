package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryAPIEndpointChecksWhoAsks is the matrix of every REST endpoint
// against every kind of caller: no token and an unknown token are refused
// with 401, a caller without the role or with it only in another namespace
// with 403, and only a caller with the role gets past authorisation.
func TestEveryAPIEndpointChecksWhoAsks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens.csv", "t-admin,admin,u1,admins\nt-nobody,nobody,u2\nt-other,other,u3,others\n")
	roles := write("roles.yaml", `roles:
- {name: all, rules: [{resources: [approvals, auditevents, verifications], verbs: [get, list, create, approve, reject]}]}
bindings:
- {role: all, groups: [admins]}
- {role: all, groups: [others], namespaces: [elsewhere]}
`)
	trust, signed := signedNginx(t)
	cfg := write("gateway.yaml", withTrust(gatewayEnforce, trust)+`namespaces:
- match: {names: [shop]}
  approval:
    approvers: 1
    groups: [admins]
    expiry: {pending: 72h, approved: 24h}
auth:
  tokenFile: `+tokens+`
  roleFile: `+roles+`
`)
	_, client, base := started(t, cfg)

	r := validate(t, client, base, signed)
	m := regexp.MustCompile(`approval request (\w+) is pending`).FindStringSubmatch(r.Result.Message)
	if r.Allowed || m == nil {
		t.Fatalf("the rollout did not wait for approval: allowed=%v %q", r.Allowed, r.Result.Message)
	}
	id := m[1]
	var object string
	if i := strings.Index(string(signed), `"object":`); i >= 0 {
		object = strings.TrimSuffix(strings.TrimSpace(string(signed)[i+len(`"object":`):]), "}}")
	}

	endpoints := []struct{ method, path, body string }{
		{"GET", "/v1/audit/events?namespace=shop", ""},
		{"GET", "/v1/audit/export?namespace=shop", ""},
		{"GET", "/v1/audit/checkpoint", ""},
		{"GET", "/v1/audit/proofs/inclusion?seq=0&size=1", ""},
		{"GET", "/v1/audit/proofs/consistency?first=1&second=1", ""},
		{"GET", "/v1/approvals?namespace=shop", ""},
		{"POST", "/v1/approvals", `{"namespace":"shop","object":` + object + `}`},
		{"GET", "/v1/approvals/" + id, ""},
		{"POST", "/v1/approvals/" + id + "/reject", `{"comment":"no"}`},
		{"POST", "/v1/approvals/" + id + "/approve", `{"comment":"yes"}`},
		{"POST", "/v1/verify?namespace=shop", `{"images":["nginx:1.27.3"]}`},
	}
	callers := []struct {
		name, token string
		status      int    // 0: anything past authorisation
		code        string // the error code of a refusal
	}{
		{"no token", "", 401, "unauthenticated"},
		{"an unknown token", "t-forged", 401, "unauthenticated"},
		{"a caller without a role", "t-nobody", 403, "forbidden"},
		{"a caller whose role is for another namespace", "t-other", 403, "forbidden"},
		{"a caller with the role", "t-admin", 0, ""},
	}
	// The audit proofs and checkpoint are cluster-wide: a namespaced role
	// does not reach them either.
	for _, c := range callers {
		for _, e := range endpoints {
			t.Run(c.name+" "+e.method+" "+e.path, func(t *testing.T) {
				req, _ := http.NewRequest(e.method, base+e.path, strings.NewReader(e.body))
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body := string(b)
				if c.status != 0 {
					if resp.StatusCode != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
						t.Errorf("HTTP %d %s, want %d %s", resp.StatusCode, body, c.status, c.code)
					}
					return
				}
				if resp.StatusCode == 401 || strings.Contains(body, `"code":"forbidden"`) || strings.Contains(body, `"code":"unauthenticated"`) {
					t.Errorf("the authorised caller was refused: HTTP %d %s", resp.StatusCode, body)
				}
			})
		}
	}
}
