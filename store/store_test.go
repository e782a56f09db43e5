package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

func TestOpenMigratesBothBackends(t *testing.T) {
	t.Parallel()
	want, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := store.Migrations(store.Postgres)
	if err != nil || len(pg) != len(want) {
		t.Fatalf("postgres has %d migrations (%v), sqlite %d: every version needs both", len(pg), err, len(want))
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			url := storetest.URL(t, d)
			// Open twice, concurrently, as two replicas starting at once:
			// each version is applied exactly once.
			var wg sync.WaitGroup
			dbs := make([]*store.DB, 2)
			errs := make([]error, 2)
			for i := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dbs[i], errs[i] = store.Open(t.Context(), url)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
				defer dbs[i].Close()
			}
			v, err := dbs[0].Version(t.Context())
			if err != nil || v != len(want) {
				t.Errorf("schema version %d (%v), want %d", v, err, len(want))
			}
			var n int
			if err := dbs[1].SQL().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(want) {
				t.Errorf("%d rows in schema_migrations (%v), want %d", n, err, len(want))
			}
			var size int64
			if err := dbs[0].SQL().QueryRow("SELECT size FROM audit_head WHERE id = 1").Scan(&size); err != nil || size != 0 {
				t.Errorf("audit_head size %d (%v), want an empty log", size, err)
			}
		})
	}
}

// Several handles opening one new SQLite file at once all open it, as two
// processes would: the one SQLite answers SQLITE_BUSY while another
// switches the file to WAL tries again. Without that, 7 of 10 runs of this
// test failed here.
func TestOpenANewSQLiteFileFromSeveralAtOnce(t *testing.T) {
	t.Parallel()
	for round := range 40 {
		url := storetest.URL(t, store.SQLite)
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				db, err := store.Open(t.Context(), url)
				if err == nil {
					db.Close()
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, d)
			boom := errors.New("boom")
			err := db.InTx(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.Exec(db.Rebind("INSERT INTO verifications (digest, trust_rev, result, verified_at) VALUES (?, ?, ?, ?)"), "sha256:1", "r1", "{}", 1); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v, want boom", err)
			}
			var n int
			if err := db.SQL().QueryRow("SELECT count(*) FROM verifications").Scan(&n); err != nil || n != 0 {
				t.Errorf("%d rows after a rolled-back insert (%v)", n, err)
			}
		})
	}
}

func TestNowAndRebind(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, d)
			if now, err := db.Now(context.Background()); err != nil || now.IsZero() || now.Location().String() != "UTC" {
				t.Errorf("Now = %v, %v", now, err)
			}
			got := db.Rebind("SELECT a FROM t WHERE b = ? AND c = ?")
			want := map[store.Dialect]string{store.SQLite: "SELECT a FROM t WHERE b = ? AND c = ?", store.Postgres: "SELECT a FROM t WHERE b = $1 AND c = $2"}[d]
			if got != want {
				t.Errorf("Rebind = %q, want %q", got, want)
			}
		})
	}
}

func TestOpenRefusesWhatItCannotOpen(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ url, says string }{
		"another scheme":             {"mysql://db/x", "sqlite:// or postgres://"},
		"an in-memory SQLite":        {"sqlite://:memory:", "names no file"},
		"no file":                    {"sqlite://", "names no file"},
		"a server that is not there": {"postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "postgres://127.0.0.1:1/x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := store.Open(t.Context(), tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Open(%q) = %v, want an error saying %q", tc.url, err, tc.says)
			}
		})
	}
}
