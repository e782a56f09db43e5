// Package storetest opens real, throwaway stores for tests: a SQLite file in
// a temporary directory, and a fresh database on the PostgreSQL server named
// by SHIPGATE_TEST_POSTGRES_URL (scripts/with-postgres.sh starts one; make
// test uses it). A missing server fails the test: it is never skipped.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/shipgate/shipgate/store"
)

// EnvURL names the environment variable holding the PostgreSQL server URL.
const EnvURL = "SHIPGATE_TEST_POSTGRES_URL"

// Dialects are the backends every store test runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// URL returns a URL for a new, empty store of dialect d, removed when the
// test ends.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "shipgate.db")
	case store.Postgres:
		return postgresDB(t)
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

// Open opens a new, empty, migrated store of dialect d, closed when the
// test ends.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), URL(t, d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresDB creates a database on the test server and returns its URL.
func postgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Fatalf("%s is not set: these tests need a PostgreSQL server; run them with make test, or scripts/with-postgres.sh go test ./...", EnvURL)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating test database on %s: %v", EnvURL, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
