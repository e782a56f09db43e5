package audit_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestWALStaysBounded appends without a pause from 32 writers and checks
// that SQLite's WAL file starts over rather than growing with the log: a
// background checkpoint never lets it under steady load, so the writer
// finishes one between batches once the WAL passes its bound (64 MiB;
// 8 MiB here, so that a short test passes it several times). The file is
// never truncated, so its size is the longest the WAL has been.
func TestWALStaysBounded(t *testing.T) {
	u := storetest.URL(t, store.SQLite)
	db, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := newLog(t, db, audit.WithWALRestart(2048))
	const records, writers = 40000, 32
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > records {
					return
				}
				r := sample(int(n))
				r.RequestUID = fmt.Sprintf("wal-%d", n)
				if _, err := l.Append(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	walPath := strings.TrimPrefix(u, "sqlite://") + "-wal"
	wal, err := os.Stat(walPath)
	if err != nil {
		t.Fatal(err)
	}
	dbFile, err := os.Stat(strings.TrimPrefix(u, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records: database file %.1f MiB, WAL file %.1f MiB", records, float64(dbFile.Size())/(1<<20), float64(wal.Size())/(1<<20))
	// Without the restarts the WAL holds every page written since the
	// first append: about 70 MiB. With them it is the bound, and what the
	// batches add in the 250 ms before the background notices.
	if limit := int64(40 << 20); wal.Size() > limit {
		t.Fatalf("the WAL grew to %d bytes after %d appends (database file %d bytes): it does not start over", wal.Size(), records, dbFile.Size())
	}
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM audit_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != records {
		t.Fatalf("%d records in the log, want %d", n, records)
	}
}
