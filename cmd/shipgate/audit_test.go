package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
)

// TestAuditVerifyCommand: a log written by the gateway verifies; the same
// log with one record edited in the database fails, naming the record.
func TestAuditVerifyCommand(t *testing.T) {
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
	l, err := audit.New(db, audit.WithCheckpoints(signer, 3, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"web", "api", "cache", "db", "queue"} {
		if _, err := l.Append(context.Background(), audit.Record{Event: audit.EventAdmission, Kind: "Deployment", Namespace: "shop", Name: name, Decision: "admitted", RequestUID: name}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	l.Close()

	out, err := runCommand(t, "audit", "verify", "--store", url, "--key", keyFile)
	if err != nil || !strings.Contains(out, "verified 5 records") || strings.Contains(out, "beyond") {
		t.Fatalf("verify of an intact log, every record signed: %v\n%s", err, out)
	}
	out, err = runCommand(t, "audit", "query", "--store", url, "--name", "cache", "-o", "json")
	if err != nil || !strings.Contains(out, `"seq": 2`) || strings.Contains(out, `"web"`) {
		t.Errorf("query --name cache: %v\n%s", err, out)
	}

	// A redaction keeps the log verifiable, and is itself a record.
	out, err = runCommand(t, "audit", "redact", "2", "--reason", "a token pasted into an env var", "--by", "sec-team", "--store", url)
	if err != nil || !strings.Contains(out, "record 2 redacted; redaction recorded as record 5") {
		t.Fatalf("redact: %v\n%s", err, out)
	}
	out, err = runCommand(t, "audit", "verify", "--store", url, "--key", keyFile)
	if err != nil || !strings.Contains(out, "verified 6 records (1 redacted)") {
		t.Fatalf("verify after a redaction: %v\n%s", err, out)
	}
	// The redaction was appended by a command that signs no checkpoint:
	// verification says the record is not yet covered by a signature, and
	// fails on it with --require-signed.
	if want := "note: record 5 is beyond the latest signed checkpoint (size 5)"; !strings.Contains(out, want) {
		t.Errorf("verify after a redaction does not say %q:\n%s", want, out)
	}
	out, err = runCommand(t, "audit", "verify", "--store", url, "--key", keyFile, "--require-signed")
	if exitOf(err) != 1 || !strings.Contains(out, "FAILED: record 5 is beyond the latest signed checkpoint") {
		t.Errorf("verify --require-signed with an unsigned record: exit %d, want 1:\n%s", exitOf(err), out)
	}

	if _, err := db.SQL().Exec(`UPDATE audit_log SET record = replace(record, '"name":"api"', '"name":"apx"') WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = runCommand(t, "audit", "verify", "--store", url, "--key", keyFile)
	if exitOf(err) != 1 || !strings.Contains(out, "record 1") {
		t.Errorf("verify of an edited log: exit %d, want 1 naming record 1:\n%s", exitOf(err), out)
	}
}
