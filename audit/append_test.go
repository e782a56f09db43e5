package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

func TestAppendIsContiguousAndDurable(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			url := storetest.URL(t, d)
			db, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			l, err := audit.New(db)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 0, 25)
			_, root, err := l.Root(ctx)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if _, err := l.Append(ctx, sample(25)); err != audit.ErrClosed {
				t.Errorf("Append after Close = %v, want ErrClosed", err)
			}
			db.Close()

			// Reopen: everything acknowledged is there, in order.
			db, err = store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			l = newLog(t, db)
			size, root2, err := l.Root(ctx)
			if err != nil || size != 25 || string(root2) != string(root) {
				t.Fatalf("after reopening: size %d root %x (%v), want 25 and %x", size, root2, err, root)
			}
			got, _, err := l.Query(ctx, audit.Filter{}, "", 100)
			if err != nil || len(got) != 25 {
				t.Fatalf("Query = %d entries, %v", len(got), err)
			}
			for i, e := range got {
				want := sample(i)
				if e.Seq != uint64(i) || e.Record.Name != want.Name || !e.Record.Time.Equal(want.Time) || e.Record.Time.Location().String() != "UTC" {
					t.Errorf("entry %d = seq %d %s %v, want %s %v UTC", i, e.Seq, e.Record.Name, e.Record.Time, want.Name, want.Time)
				}
			}
			appendN(t, l, 25, 30) // the tree goes on from where it was
			if _, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{}); err != nil {
				t.Errorf("Verify = %v", err)
			}
		})
	}
}

func TestAppendDedupesRequestUID(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := storetest.Open(t, d)
			l := newLog(t, db)
			appendN(t, l, 0, 3)
			r := sample(3)
			r.RequestUID = "0b9a-retried"
			first, err := l.Append(ctx, r)
			if err != nil || first != 3 {
				t.Fatalf("first Append = %d, %v", first, err)
			}
			// The API server retries: sequentially, then eight at once, with
			// other records in between.
			r.Time = r.Time.Add(5e9)
			if again, err := l.Append(ctx, r); err != nil || again != first {
				t.Errorf("retried Append = %d, %v; want %d", again, err, first)
			}
			var wg sync.WaitGroup
			seqs := make([]uint64, 16)
			for i := range seqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rec := r
					if i%2 == 1 {
						rec = sample(10 + i)
						rec.RequestUID = fmt.Sprintf("other-%d", i)
					}
					var err error
					if seqs[i], err = l.Append(ctx, rec); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			for i := 0; i < len(seqs); i += 2 {
				if seqs[i] != first {
					t.Errorf("concurrent retry %d got seq %d, want %d", i, seqs[i], first)
				}
			}
			if size, err := l.Size(ctx); err != nil || size != 4+8 {
				t.Errorf("Size = %d, %v; want 12 (one record for the retried uid)", size, err)
			}
			got, _, err := l.Query(ctx, audit.Filter{Name: r.Name}, "", 10)
			if err != nil || len(got) != 1 || got[0].Record.RequestUID != r.RequestUID {
				t.Errorf("records for the retried object: %+v, %v", got, err)
			}
		})
	}
}

// TestAppendDedupesAcrossLogs has two logs append to one store, as an old
// and a new gateway overlapping in a rollout, or two replicas on
// PostgreSQL, do, and a third open it after the first closes: a uid either
// appended is a retry for each, whichever appended it first.
func TestAppendDedupesAcrossLogs(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			u := storetest.URL(t, d)
			open := func() *audit.Log {
				db, err := store.Open(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return newLog(t, db)
			}
			// As the webhook's: the record's time is the admission's.
			rec := func(i int, uid string) audit.Record {
				r := sample(i)
				r.Time, r.RequestUID = time.Now(), uid
				return r
			}
			appendAs := func(l *audit.Log, r audit.Record, want uint64) {
				t.Helper()
				if seq, err := l.Append(ctx, r); err != nil || seq != want {
					t.Errorf("Append(%s) = %d, %v; want %d", r.RequestUID, seq, err, want)
				}
			}
			one := open()
			appendN(t, one, 0, 2)
			appendAs(one, rec(2, "a"), 2)
			two := open() // a writer that starts after "a" was appended
			appendAs(two, rec(3, "a"), 2)
			appendAs(one, rec(4, "b"), 3)
			appendAs(two, rec(5, "b"), 3) // appended by the other since this one's last batch
			appendAs(two, rec(6, "c"), 4)
			appendAs(one, rec(7, "c"), 4)
			appendAs(one, rec(8, "d"), 5)
			one.Close()
			three := open() // a restart
			for i, uid := range []string{"a", "b", "c", "d"} {
				appendAs(three, rec(9, uid), uint64(2+i))
			}
			appendAs(three, rec(10, "e"), 6)
			if size, err := three.Size(ctx); err != nil || size != 7 {
				t.Errorf("Size = %d, %v; want 7", size, err)
			}
		})
	}
}

// TestAppendWithTellsItsWritesTheSeq: the statements AppendWith runs see
// the seq of the record they are written with, in batches of many.
func TestAppendWithTellsItsWritesTheSeq(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			l := newLog(t, storetest.Open(t, d))
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var seen uint64
					var ok bool
					got, err := l.AppendWith(t.Context(), sample(i), func(ctx context.Context, _ *sql.Tx) error {
						seen, ok = audit.AppendedSeq(ctx)
						return nil
					})
					if err != nil || !ok || seen != got {
						t.Errorf("AppendWith = %d, %v; its write saw %d, %v", got, err, seen, ok)
					}
				}()
			}
			wg.Wait()
			if _, ok := audit.AppendedSeq(t.Context()); ok {
				t.Error("AppendedSeq outside AppendWith says it has a seq")
			}
		})
	}
}

func TestAppendRefusesBadRecords(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l := newLog(t, db)
	for name, r := range map[string]audit.Record{
		"no event":         {Kind: "Pod"},
		"an unknown event": {Event: "deploy"},
		"evidence not JSON": func() audit.Record {
			r := sample(0)
			r.Evidence = []byte("{")
			return r
		}(),
	} {
		if _, err := l.Append(t.Context(), r); !errorsIs(err, audit.ErrInvalidRecord) {
			t.Errorf("%s: Append = %v, want ErrInvalidRecord", name, err)
		}
	}
	if size, _ := l.Size(t.Context()); size != 0 {
		t.Errorf("Size = %d after refused appends", size)
	}
}

// TestAppendOneRefusedRecordFailsAlone has the database refuse one record
// in the middle of batches (a trigger raises on its name): the multi-row
// INSERT stops there with the rows before it written, so the batch must be
// rolled back whole and each record retried alone. Only the refused record
// fails; every other is in the log once, numbered without gaps.
func TestAppendOneRefusedRecordFailsAlone(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	if _, err := db.SQL().ExecContext(t.Context(), `CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_log
		WHEN NEW.name = 'poison' BEGIN SELECT RAISE(FAIL, 'poison refused'); END`); err != nil {
		t.Fatal(err)
	}
	l := newLog(t, db)
	const rounds, writers = 5, 32
	var mu sync.Mutex
	var seqs []uint64
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := sample(round*writers + w)
				if w == writers/2 {
					r.Name = "poison"
				}
				seq, err := l.Append(t.Context(), r)
				if r.Name == "poison" {
					if err == nil || !strings.Contains(err.Error(), "poison refused") {
						t.Errorf("the refused record: Append = %d, %v; want the trigger's error", seq, err)
					}
					return
				}
				if err != nil {
					t.Errorf("record %d, queued beside the refused one: %v", round*writers+w, err)
					return
				}
				mu.Lock()
				seqs = append(seqs, seq)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	checkContiguous(t, seqs, rounds*(writers-1))
	if size, _ := l.Size(t.Context()); size != uint64(rounds*(writers-1)) {
		t.Errorf("Size = %d, want %d", size, rounds*(writers-1))
	}
	if _, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestAppendRefusesRowsOutOfStepWithTheHead: on SQLite the rows after the
// log's first are numbered by the database, one past its largest seq, and
// the writer checks that number against the head. With the last row
// deleted behind the log's back, an append must fail, naming the record,
// and leave the log as it was: no row numbered in the deleted row's place.
func TestAppendRefusesRowsOutOfStepWithTheHead(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l := newLog(t, db)
	seqs := appendConcurrently(t, l, 8, 4, 0)
	checkContiguous(t, seqs, 32)
	ctx := t.Context()
	if _, err := db.SQL().ExecContext(ctx, "DELETE FROM audit_log WHERE seq = 31"); err != nil {
		t.Fatal(err)
	}
	if seq, err := l.Append(ctx, sample(100)); err == nil || !strings.Contains(err.Error(), "record 32 was numbered 31") {
		t.Fatalf("Append after the last row was deleted = %d, %v; want an error saying record 32 was numbered 31", seq, err)
	}
	var rows, max int64
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*), max(seq) FROM audit_log").Scan(&rows, &max); err != nil {
		t.Fatal(err)
	}
	if rows != 31 || max != 30 {
		t.Errorf("after the refused append the log has %d rows up to seq %d; want 31 up to 30", rows, max)
	}
	if size, err := l.Size(ctx); err != nil || size != 32 {
		t.Errorf("Size = %d, %v; want the head left at 32", size, err)
	}
}

// appendConcurrently runs writers goroutines each appending per records to
// l, and returns every seq they got.
func appendConcurrently(t *testing.T, l *audit.Log, writers, per, offset int) []uint64 {
	t.Helper()
	var mu sync.Mutex
	var seqs []uint64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				r := sample(offset + w*per + i)
				r.RequestUID = fmt.Sprintf("uid-%d-%d-%d", offset, w, i)
				seq, err := l.Append(t.Context(), r)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs = append(seqs, seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return seqs
}

func checkContiguous(t *testing.T, seqs []uint64, n int) {
	t.Helper()
	slices.Sort(seqs)
	if len(seqs) != n {
		t.Fatalf("%d seqs, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i) {
			t.Fatalf("seq %d at position %d: seqs are not 0…%d without gaps or repeats", s, i, n-1)
		}
	}
}

func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			key := newKey(t, "shipgate.test/concurrent")
			db := storetest.Open(t, d)
			l := newLog(t, db, audit.WithCheckpoints(key.signer, 500, 0))
			seqs := appendConcurrently(t, l, 64, 50, 0)
			checkContiguous(t, seqs, 3200)
			l.Close()
			rep, err := audit.Verify(t.Context(), db, key.verifiers, audit.VerifyOptions{})
			if err != nil || rep.Size != 3200 || rep.Checkpoints < 6 {
				t.Errorf("Verify = %+v, %v; want 3,200 records and at least 6 checkpoints", rep, err)
			}
		})
	}
}

func TestTwoReplicasShareOneTree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := newKey(t, "shipgate.test/replicas")
	url := storetest.URL(t, store.Postgres)
	logs := make([]*audit.Log, 2)
	for i := range logs {
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		logs[i] = newLog(t, db, audit.WithReplica(fmt.Sprintf("gw-%d", i)), audit.WithCheckpoints(key.signer, 100, 0))
	}
	var wg sync.WaitGroup
	got := make([][]uint64, 2)
	for i, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = appendConcurrently(t, l, 16, 40, i*10000)
		}()
	}
	wg.Wait()
	checkContiguous(t, append(got[0], got[1]...), 2*16*40)
	for _, l := range logs {
		l.Close()
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := audit.Verify(ctx, db, key.verifiers, audit.VerifyOptions{})
	if err != nil || rep.Size != 1280 || rep.Checkpoints < 12 {
		t.Errorf("Verify = %+v, %v; want one tree of 1,280 records with its checkpoints", rep, err)
	}
}

func TestAppendKeepsColumnsAndContentAlike(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := storetest.Open(t, d)
			l := newLog(t, db)
			r := sample(0)
			r.Name, r.User.Username = "api\x00evil", "bad\xffutf8"
			r.Images = []audit.Image{{Container: "c\x00", Ref: "registry.example.com/x:1", Digest: "sha256:\xfe"}}
			seq, err := l.Append(ctx, r)
			if err != nil {
				t.Fatalf("Append with NUL and invalid UTF-8 = %v", err)
			}
			if r.Images[0].Container != "c\x00" {
				t.Error("Append changed the caller's images")
			}
			if _, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{}); err != nil {
				t.Errorf("Verify = %v", err)
			}
			got, _, err := l.Query(ctx, audit.Filter{Name: "api\uFFFDevil", User: "bad\uFFFDutf8"}, "", 10)
			if err != nil || len(got) != 1 || got[0].Seq != seq {
				t.Errorf("Query by the cleaned name = %+v, %v", got, err)
			}
		})
	}
}

// TestCommitDelayGroupsAppendsWhenBusy: four admissions append one record
// each, 5–15 ms of work apart, so their records rarely meet in the queue.
// While the process is busy, the writer holds each batch open (up to 60 ms
// here) for the records the recent rate says are coming, and the four
// share one transaction; while it is not, each commits at once. Both
// counts come from Commits.
func TestCommitDelayGroupsAppendsWhenBusy(t *testing.T) {
	t.Parallel()
	perCommit := func(t *testing.T, busy bool) float64 {
		db := storetest.Open(t, store.SQLite)
		l := newLog(t, db, audit.WithCommitDelay(60*time.Millisecond, func() bool { return busy }))
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range 25 {
					time.Sleep(5*time.Millisecond + time.Duration(rnd.IntN(10000))*time.Microsecond)
					if _, err := l.Append(t.Context(), sample(w*100+i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		commits, records := l.Commits()
		if records != 100 {
			t.Fatalf("Commits counted %d records, want 100", records)
		}
		return float64(records) / float64(commits)
	}
	busy, idle := perCommit(t, true), perCommit(t, false)
	t.Logf("records per transaction: %.2f busy, %.2f not busy", busy, idle)
	if busy < 3 {
		t.Errorf("while busy, %.2f records per transaction; want the writer to wait for the others (3 or more of 4)", busy)
	}
	if idle >= busy-1 {
		t.Errorf("not busy, %.2f records per transaction against %.2f busy: the writer seems to wait either way", idle, busy)
	}
}

// TestCommitDelayNeverHoldsAnIdleLog: with a delay of an hour, appends one
// after another, hundreds a second, still commit at once while the
// process is not busy; and once it is busy, a lone append two seconds
// after the last does not wait for company: the rate the writer expects
// has decayed to nothing. A wrongly held append would fail on its
// context's deadline.
func TestCommitDelayNeverHoldsAnIdleLog(t *testing.T) {
	t.Parallel()
	var busy atomic.Bool
	db := storetest.Open(t, store.SQLite)
	l := newLog(t, db, audit.WithCommitDelay(time.Hour, busy.Load))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i := range 50 {
		if _, err := l.Append(ctx, sample(i)); err != nil {
			t.Fatalf("append %d, not busy: %v (held back by the commit delay?)", i, err)
		}
	}
	busy.Store(true)
	time.Sleep(2 * time.Second)
	if _, err := l.Append(ctx, sample(50)); err != nil {
		t.Fatalf("a lone append, busy, two seconds after the last: %v (held back by the commit delay?)", err)
	}
	if commits, records := l.Commits(); commits != 51 || records != 51 {
		t.Fatalf("Commits = %d transactions, %d records; want 51 each", commits, records)
	}
}
