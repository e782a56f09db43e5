package main

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/shipgate/shipgate/audit"
	auditapi "github.com/shipgate/shipgate/audit/api"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
)

// auditGateway serves l's audit API over TLS to the static token
// t-auditor, and returns its URL and a file with its CA certificate.
func auditGateway(t *testing.T, l *audit.Log) (string, string) {
	t.Helper()
	tf, err := auth.ParseTokenFile("tokens", strings.NewReader("t-auditor,auditor,u9,compliance\n"))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := auth.ParseRoleFile("roles", []byte("roles:\n- {name: auditor, rules: [{resources: [auditevents], verbs: [get, list]}]}\nbindings:\n- {role: auditor, groups: [compliance]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	auditapi.Register(r, l, &httpapi.Guard{Authn: tf, Authz: rf})
	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

// truncate cuts the log to size records and rebuilds its head, as an
// attacker with the database would, so the gateway appends after it.
func truncate(t *testing.T, db *store.DB, size int) {
	t.Helper()
	for _, q := range []string{"DELETE FROM audit_log WHERE seq >= ?", "DELETE FROM audit_checkpoints WHERE size > ?"} {
		if _, err := db.SQL().Exec(q, size); err != nil {
			t.Fatal(err)
		}
	}
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	rows, err := db.SQL().Query("SELECT leaf FROM audit_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var leaf []byte
		if err := rows.Scan(&leaf); err != nil {
			t.Fatal(err)
		}
		if err := rng.Append(leaf, nil); err != nil {
			t.Fatal(err)
		}
	}
	var raw []byte
	for _, h := range rng.Hashes() {
		raw = append(raw, h...)
	}
	if _, err := db.SQL().Exec(`UPDATE audit_head SET size = ?, "range" = ? WHERE id = 1`, int64(rng.End()), raw); err != nil {
		t.Fatal(err)
	}
}

// TestAuditServerMode: with only the gateway's API, query and export print
// what they print from the database, and verify passes on a good log,
// names a record edited in the database, passes after a redaction, and,
// with --state, detects the log cut back and regrown.
func TestAuditServerMode(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "shipgate.db")
	skey, vkey, err := audit.GenerateKey("shipgate.dev/audit")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "audit.pub")
	if err := os.WriteFile(keyFile, []byte(vkey), 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := audit.New(db, audit.WithCheckpoints(signer, 3, time.Hour), audit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for i, name := range []string{"web", "api", "cache", "db", "queue"} {
		rec := audit.Record{Event: audit.EventAdmission, Kind: "Deployment", Namespace: "shop", Name: name, Decision: "admitted", RequestUID: name,
			Reasons: []string{"<b>" + name + "</b> & co"}, Images: []audit.Image{{Container: name, Ref: "registry.example.com/shop/" + name + ":1", Digest: "sha256:" + strings.Repeat("ab", 32)}}}
		if _, err := l.Append(context.Background(), rec); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	server, ca := auditGateway(t, l)
	viaAPI := []string{"--server", server, "--certificate-authority", ca, "--token", "t-auditor"}
	run := func(args ...string) (string, error) {
		return runCommand(t, append(append([]string{"audit"}, args...), viaAPI...)...)
	}

	// The API first: each of its reads is recorded, so the database then
	// holds the same records the API answered with.
	for _, args := range [][]string{
		{"query"},
		{"query", "--namespace", "shop", "--name", "cache", "-o", "json"},
		{"query", "--repository", "registry.example.com/shop/db", "--since", "1h", "-o", "json"},
		{"export"},
		{"export", "--format", "csv", "--decision", "admitted"},
	} {
		remote, err := run(args...)
		if err != nil {
			t.Fatalf("%v --server: %v\n%s", args, err, remote)
		}
		local, err := runCommand(t, append([]string{"audit"}, append(args, "--store", url)...)...)
		if err != nil {
			t.Fatalf("%v --store: %v\n%s", args, err, local)
		}
		if remote != local || !strings.Contains(remote, "shop") {
			t.Errorf("%v: --server printed\n%s\n--store printed\n%s", args, remote, local)
		}
	}

	state := filepath.Join(dir, "audit-state.json")
	out, err := run("verify", "--key", keyFile, "--state", state)
	if err != nil || !strings.Contains(out, "records (0 redacted) and 1 signed checkpoints") {
		t.Fatalf("verify --server of an intact log: %v\n%s", err, out)
	}

	rseq, err := l.Redact(context.Background(), 2, "a token pasted into an env var", audit.User{Username: "sec-team"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = run("verify", "--key", keyFile, "--state", state)
	if err != nil || !strings.Contains(out, "(1 redacted) and 1 signed checkpoints") {
		t.Fatalf("verify --server after a redaction: %v\n%s", err, out)
	}

	edit := func(from, to string) {
		t.Helper()
		if _, err := db.SQL().Exec("UPDATE audit_log SET record = replace(record, ?, ?) WHERE seq = 1", from, to); err != nil {
			t.Fatal(err)
		}
	}
	edit(`"name":"api"`, `"name":"apx"`)
	out, err = run("verify", "--key", keyFile, "--state", state)
	if exitOf(err) != 1 || !strings.Contains(out, "FAILED: record 1: leaf does not match its content") {
		t.Errorf("verify --server of an edited log: exit %d, want 1 naming record 1:\n%s", exitOf(err), out)
	}
	edit(`"name":"apx"`, `"name":"api"`)
	if out, err = run("verify", "--key", keyFile, "--state", state); err != nil {
		t.Fatalf("verify --server with the edit undone: %v\n%s", err, out)
	}

	// Cut the log back to just after the redaction record: the gateway
	// appends its reads after it, but its newest checkpoint is older than
	// the remembered one.
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	truncate(t, db, int(rseq)+1)
	out, err = run("verify", "--key", keyFile, "--state", state)
	if exitOf(err) != 1 || !strings.Contains(out, "FAILED: ") || !strings.Contains(out, "an earlier verification saw") || strings.Contains(out, "redacted without") {
		t.Errorf("verify --server --state of a truncated log: exit %d, want 1 saying it was cut back:\n%s", exitOf(err), out)
	}
	if after, _ := os.ReadFile(state); string(after) != string(before) {
		t.Errorf("a failed verification rewrote the state file:\n%s\nwas\n%s", after, before)
	}
}

// TestAuditLogFlags: the audit commands read exactly one of --store and
// --server.
func TestAuditLogFlags(t *testing.T) {
	t.Setenv(envServer, "")
	tests := map[string][]string{
		"both":             {"audit", "query", "--store", "sqlite:///nowhere.db", "--server", "https://gw.example"},
		"neither":          {"audit", "export"},
		"verify with both": {"audit", "verify", "--key", "k.pub", "--store", "sqlite:///nowhere.db", "--server", "https://gw.example"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := runCommand(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--store") || !strings.Contains(err.Error(), "--server") {
				t.Errorf("%v: %v, want an error naming --store and --server", args, err)
			}
		})
	}
}
