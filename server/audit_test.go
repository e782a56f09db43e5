package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditAPI: the gateway records an admitted rollout and serves it over
// the audit API to an authorised caller only, recording the read.
func TestAuditAPI(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens.csv", "t-auditor,auditor,u1,auditors\nt-dev,dev,u2\n")
	roles := write("roles.yaml", "roles:\n- name: reader\n  rules: [{resources: [auditevents], verbs: [get, list]}]\nbindings:\n- {role: reader, groups: [auditors]}\n")
	trust, pinned := signedNginx(t)
	cfg := write("gateway.yaml", withTrust(gatewayEnforce, trust)+"auth:\n  tokenFile: "+tokens+"\n  roleFile: "+roles+"\n")

	s, client, base := started(t, cfg)

	if r := validate(t, client, base, pinned); !r.Allowed {
		t.Fatalf("a pinned Deployment was refused: %s", r.Result.Message)
	}

	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/audit/events?namespace=shop", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != 401 || !strings.Contains(body, `"code":"unauthenticated"`) {
		t.Errorf("no token: %d %s, want 401", code, body)
	}
	if code, body := get("t-dev"); code != 403 || !strings.Contains(body, `"code":"forbidden"`) {
		t.Errorf("no role: %d %s, want 403", code, body)
	}
	code, body := get("t-auditor")
	if code != 200 {
		t.Fatalf("auditor: %d %s", code, body)
	}
	var page struct {
		Events []struct {
			Seq    uint64 `json:"seq"`
			Record struct {
				Event, Decision, Kind, Name string
			} `json:"record"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Events) != 1 ||
		page.Events[0].Record.Decision != "admitted" || page.Events[0].Record.Name != "web" {
		t.Fatalf("events %s (%v), want the one admitted rollout", body, err)
	}
	// The read itself is on the log now: the admission, then the read.
	if n, err := s.audit.Size(context.Background()); err != nil || n != 2 {
		t.Errorf("log size %d (%v), want 2: the rollout and the audited read", n, err)
	}
}
