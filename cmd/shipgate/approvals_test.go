package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/approval"
	approvalapi "github.com/shipgate/shipgate/approval/api"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store/storetest"
)

// approvalsGateway serves the approval API over TLS with static token and
// role files, and returns its URL and a file with its CA certificate.
func approvalsGateway(t *testing.T) (string, string) {
	t.Helper()
	db := storetest.Open(t, storetest.Dialects[0])
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := audit.New(db, audit.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	rule := &config.ApprovalRule{Approvers: 2, Groups: []string{"release-managers"}, BreakGlassGroups: []string{"sre-oncall"},
		Expiry: config.ApprovalExpiry{Pending: config.Duration{Duration: time.Hour}, Approved: config.Duration{Duration: time.Hour}, BreakGlass: config.Duration{Duration: time.Hour}}}
	rules := func(_ context.Context, ns string) ([]approval.Requirement, error) {
		if ok, _ := path.Match("prod-*", ns); ok {
			return []approval.Requirement{approval.FromRule(rule)}, nil
		}
		return nil, nil
	}
	svc, err := approval.New(db, l, approval.WithRules(rules), approval.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second); l.Close() })
	tf, err := auth.ParseTokenFile("tokens", strings.NewReader("t-ci,ci,u1\nt-alice,alice,u2,release-managers\nt-bob,bob,u3,release-managers\n"))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := auth.ParseRoleFile("roles", []byte("roles:\n- {name: all, rules: [{resources: [approvals], verbs: ['*']}]}\nbindings:\n- {role: all, users: [ci, alice, bob]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	approvalapi.Register(r, svc, &httpapi.Guard{Authn: tf, Authz: rf})
	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

const approvalManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: prod-payments}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod-payments}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: "registry.example.com/shop/api:1.4.2"}
`

// TestApprovalsCommands: request ahead of time as CI with --token, list
// with $SHIPGATE_TOKEN, approve as alice through her kubeconfig, refused
// self-approval, approve as bob, get as JSON.
func TestApprovalsCommands(t *testing.T) {
	server, ca := approvalsGateway(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(file, []byte(approvalManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://kube.example.com"}}]
users: [{name: alice, user: {token: t-alice}}]
contexts: [{name: alice, context: {cluster: c, user: alice}}]
current-context: alice
`), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", server, "--certificate-authority", ca}
	run := func(args ...string) (string, error) {
		return runCommand(t, append(append([]string{"approvals"}, args...), conn...)...)
	}

	out, err := run("request", "-f", file, "--token", "t-ci")
	m := regexp.MustCompile(`Deployment prod-payments/api: approval request (\w+) pending \(0 of 2 approvals from release-managers`).FindStringSubmatch(out)
	if err != nil || m == nil || !strings.Contains(out, "approve with `shipgate approvals approve "+m[1]+"`") {
		t.Fatalf("request: %v\n%s", err, out)
	}
	id := m[1]

	t.Setenv(envToken, "t-bob")
	out, err = run("list", "-n", "prod-payments", "--state", "pending")
	if err != nil || !regexp.MustCompile(id+`\s+prod-payments\s+Deployment api\s+pending\s+-\s+ci`).MatchString(out) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	t.Setenv(envToken, "")

	out, err = run("approve", id, "--kubeconfig", kubeconfig, "--comment", "reviewed")
	if err != nil || !strings.Contains(out, "approval recorded; still pending (1 of 2 approvals") {
		t.Fatalf("alice approving through her kubeconfig: %v\n%s", err, out)
	}
	out, err = run("approve", id, "--token", "t-ci")
	if err == nil || !strings.Contains(err.Error(), "ci requested approval "+id) || !strings.Contains(err.Error(), "(HTTP 403 self-approval)") {
		t.Fatalf("self-approval: %v\n%s", err, out)
	}
	out, err = run("approve", id, "--token", "t-bob")
	if err != nil || !strings.Contains(out, "approved by alice, bob; it admits this exact rollout until") {
		t.Fatalf("bob approving: %v\n%s", err, out)
	}
	out, err = run("get", id, "--token", "t-ci", "-o", "json")
	var r approval.Request
	if err != nil || json.Unmarshal([]byte(out), &r) != nil || r.State != approval.Approved || len(r.Votes) != 2 || r.Votes[0].Comment != "reviewed" {
		t.Fatalf("get -o json: %v\n%s", err, out)
	}
	out, err = run("get", id, "--token", "t-ci")
	if err != nil || !strings.Contains(out, "State:        approved") || !strings.Contains(out, "alice approve: reviewed") {
		t.Errorf("get: %v\n%s", err, out)
	}
	if _, err = run("reject", id, "--token", "t-alice"); err == nil || !strings.Contains(err.Error(), "(HTTP 409 already-approved)") {
		t.Errorf("rejecting an approved request: %v", err)
	}
}

func TestApprovalsCommandRefusals(t *testing.T) {
	t.Setenv(envServer, "")
	t.Setenv(envToken, "")
	tests := map[string]struct {
		args []string
		says string
	}{
		"no server":             {[]string{"approvals", "list", "--token", "x"}, "no gateway to call: give --server"},
		"no token":              {[]string{"approvals", "list", "--server", "https://127.0.0.1:1", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, "no token: give --token or set $SHIPGATE_TOKEN"},
		"break-glass, no why":   {[]string{"approvals", "approve", "abc", "--break-glass"}, "--break-glass needs --comment"},
		"an unknown output":     {[]string{"approvals", "get", "abc", "-o", "yaml"}, `-o "yaml": want table or json`},
		"request without files": {[]string{"approvals", "request"}, "no manifests: give -f FILE"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := runCommand(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.says)
			}
		})
	}
}

// TestApprovalsVoteCommandParses: the vote command's flags reach its run
// function (captured, nothing is called).
func TestApprovalsVoteCommandParses(t *testing.T) {
	var got approvalsOptions
	cmd := newApprovalsVoteCommand(&approvalsOptions{Output: "table"}, "approve", func(_ context.Context, _ io.Writer, o approvalsOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"7kq2", "--break-glass", "--comment", "INC-4711"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.ID != "7kq2" || got.Verb != "approve" || !got.BreakGlass || got.Comment != "INC-4711" {
		t.Errorf("parsed %+v", got)
	}
}
