package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// lookups reads what the lookups by object, image, repository and user
// hold, as (key, seq) pairs, and where audit_head says they are complete
// up to.
type lookups struct {
	indexed, objects, images, repos, users int
}

func readLookups(t *testing.T, db *store.DB) lookups {
	t.Helper()
	var lk lookups
	pairs := map[string]string{
		"audit_objects":      "SELECT count(*) FROM audit_objects",
		"audit_images":       "SELECT count(*) FROM audit_images",
		"audit_repositories": "SELECT count(*) FROM audit_repositories",
		"audit_users":        "SELECT count(*) FROM audit_users",
	}
	if db.Dialect() == store.SQLite {
		// SQLite's are lists (index.go), which may name a pair twice.
		for rows, l := range map[string]struct{ table, cols string }{
			"audit_objects":      {"audit_object_lists", "namespace, kind, name"},
			"audit_images":       {"audit_image_lists", "digest"},
			"audit_repositories": {"audit_repository_lists", "repository"},
			"audit_users":        {"audit_user_lists", "username"},
		} {
			pairs[rows] = "SELECT count(*) FROM (SELECT DISTINCT " + l.cols + ", j.value FROM " + l.table + ", json_each(seqs) j)"
		}
	}
	for q, v := range map[string]*int{
		"SELECT indexed FROM audit_head WHERE id = 1": &lk.indexed,
		pairs["audit_objects"]:                        &lk.objects,
		pairs["audit_images"]:                         &lk.images,
		pairs["audit_repositories"]:                   &lk.repos,
		pairs["audit_users"]:                          &lk.users,
	} {
		if err := db.SQL().QueryRow(q).Scan(v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return lk
}

// findsEach checks that querying by each record's object, by its image's
// digest, and by its user (and name) finds that record, once, for records
// from to to-1 of sample, and that querying by their images' repository
// finds them all, once each.
func findsEach(t *testing.T, l *audit.Log, from, to int) {
	t.Helper()
	page, _, err := l.Query(context.Background(), audit.Filter{Repository: "registry.example.com/team"}, "", audit.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var all []uint64
	for _, e := range page {
		if e.Seq >= uint64(from) && e.Seq < uint64(to) {
			all = append(all, e.Seq)
		}
	}
	if len(all) != to-from || (len(all) > 0 && (all[0] != uint64(from) || all[len(all)-1] != uint64(to-1))) {
		t.Errorf("Query by repository found records %v, want %d-%d once each", all, from, to-1)
	}
	for i := from; i < to; i++ {
		r := sample(i)
		for _, f := range []audit.Filter{
			{Namespace: r.Namespace, Kind: r.Kind, Name: r.Name},
			{Digest: r.Images[0].Digest},
			{User: r.User.Username, Name: r.Name},
		} {
			if seqs := querySeqs(t, l, f, 10); !slices.Equal(seqs, []uint64{uint64(i)}) {
				t.Errorf("Query(%+v) = records %v, want [%d]", f, seqs, i)
			}
		}
	}
}

// A step sorts what was appended since the last and adds it a chunk per
// batch, in the batch's own transaction; only the last chunk moves
// audit_head.indexed. Records are found all along.
func TestStepsAddRecordsAChunkABatch(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	// A step every 16 records, 8 (key, seq) pairs a chunk: 16 records of
	// sample make 16 lists of one object and 16 of one digest, a list of
	// 16 for their one repository and three of 5 or 6 for their users. A
	// chunk takes lists until it has 8 pairs, so the step takes the 7
	// batches after it: objects, objects, images, images, the repository,
	// two users, the third.
	l := newLog(t, db, audit.WithIndexSteps(16, 8, time.Hour))
	all := func(indexed int) lookups {
		return lookups{indexed: indexed, objects: indexed, images: indexed, repos: indexed, users: indexed}
	}
	want := map[int]lookups{
		15: {indexed: 0},
		16: {indexed: 0}, // the step starts after this batch
		17: {indexed: 0, objects: 8},
		18: {indexed: 0, objects: 16},
		19: {indexed: 0, objects: 16, images: 8},
		20: {indexed: 0, objects: 16, images: 16},
		21: {indexed: 0, objects: 16, images: 16, repos: 16},
		22: {indexed: 0, objects: 16, images: 16, repos: 16, users: 11},
		23: all(16),
		32: all(16),
		39: all(32),
		40: all(32),
	}
	for i := range 40 {
		appendN(t, l, i, i+1)
		if w, ok := want[i+1]; ok {
			if got := readLookups(t, db); got != w {
				t.Errorf("after %d records: %+v, want %+v", i+1, got, w)
			}
			findsEach(t, l, 0, i+1)
		}
	}
	l.Close()
	if got, w := readLookups(t, db), (lookups{indexed: 40, objects: 40, images: 40, repos: 40, users: 40}); got != w {
		t.Errorf("after Close: %+v, want %+v", got, w)
	}
}

// A process killed in the middle of a step leaves some of its rows in the
// lookups and audit_head.indexed where it was; the next process adds the
// rest, and every record is found once.
func TestAStepCutShortIsFinishedByTheNextLog(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	first, err := audit.New(db, audit.WithIndexSteps(16, 8, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, first, 0, 18) // the step of 16 has added its objects, not its images
	if got, w := readLookups(t, db), (lookups{indexed: 0, objects: 16, images: 0}); got != w {
		t.Fatalf("after 18 records: %+v, want %+v", got, w)
	}
	// The next process, on the file as the first left it: its first step
	// reads what is not in the lookups from the store.
	// It runs that step after its first batch, before it takes the next.
	second := newLog(t, db, audit.WithIndexSteps(1, 8, time.Hour))
	appendN(t, second, 18, 20)
	if got, w := readLookups(t, db), (lookups{indexed: 19, objects: 19, images: 19, repos: 19, users: 19}); got != w {
		t.Errorf("after the second log's first batches: %+v, want %+v", got, w)
	}
	findsEach(t, second, 0, 20)
	first.Close()
	if _, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Records another log appended to the same file, and a redaction (which
// appends outside the writer), are not in a writer's memory: its steps
// read them from the store, and every record of both logs ends up in the
// lookups once.
func TestLookupsTakeEveryLogsRecords(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	a := newLog(t, db, audit.WithIndexSteps(4, 8, time.Hour))
	b := newLog(t, db, audit.WithIndexSteps(4, 8, time.Hour))
	for i := range 40 {
		l := a
		if i%3 == 0 {
			l = b
		}
		if _, err := l.Append(t.Context(), sample(i)); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			if _, err := a.Redact(t.Context(), 7, "a token in an env var", audit.User{Username: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.Close()
	b.Close()
	var size int
	if err := db.SQL().QueryRow("SELECT size FROM audit_head").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if got, w := readLookups(t, db), (lookups{indexed: size, objects: size, images: 40, repos: 40, users: size}); got != w {
		t.Errorf("lookups %+v, want %+v", got, w)
	}
	rows, err := db.SQL().Query("SELECT j.value, count(*) FROM audit_object_lists, json_each(seqs) j GROUP BY j.value ORDER BY j.value")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := 0
	for rows.Next() {
		var seq, n int
		if err := rows.Scan(&seq, &n); err != nil {
			t.Fatal(err)
		}
		if seq != next || n != 1 {
			t.Fatalf("audit_object_lists has record %d %d times, expected record %d once", seq, n, next)
		}
		next++
	}
	if next != size {
		t.Errorf("audit_object_lists ends at record %d, log size %d", next, size)
	}
}

// Version 8 moves the lookup by object out of an index of audit_log,
// version 9 the lookup by repository out of an index of audit_images, and
// version 10 the lookup by user out of an index of audit_log: a log
// written before them is found by object, digest, repository and user as
// before, on both stores.
func TestMigrationKeepsLookupsOfAnOlderLog(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			u := storetest.URL(t, d)
			raw := migratedTo(t, d, u, 7)
			// Three records as version 7's writer left them.
			for i := range 3 {
				r := sample(i)
				if _, err := raw.Exec(`INSERT INTO audit_log (seq, leaf, record, recorded_at, event, decision, namespace, kind, name, username)
					VALUES ($1, $2, $3, 0, 'admission', 'denied', $4, $5, $6, $7)`, i, []byte{byte(i)}, fmt.Sprintf(`{"event":"admission","seq":%d}`, i), r.Namespace, r.Kind, r.Name, r.User.Username); err != nil {
					t.Fatal(err)
				}
				if _, err := raw.Exec("INSERT INTO audit_images (digest, seq, container, repository) VALUES ($1, $2, 'api', 'registry.example.com/team/api')", r.Images[0].Digest, i); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := raw.Exec("UPDATE audit_head SET size = 3"); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			db, err := store.Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if got, w := readLookups(t, db), (lookups{indexed: 3, objects: 3, images: 3, repos: 3, users: 3}); got != w {
				t.Errorf("after migrating: %+v, want %+v", got, w)
			}
			l := newLog(t, db, audit.WithIndexSteps(1<<30, 128, time.Hour))
			for i := range 3 {
				r := sample(i)
				page, _, err := l.Query(t.Context(), audit.Filter{Namespace: r.Namespace, Kind: r.Kind, Name: r.Name}, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 || page[0].Seq != uint64(i) {
					t.Errorf("record %d by its object: %d records", i, len(page))
				}
				page, _, err = l.Query(t.Context(), audit.Filter{Digest: r.Images[0].Digest}, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 || page[0].Seq != uint64(i) {
					t.Errorf("record %d by its digest: %d records", i, len(page))
				}
			}
			page, _, err := l.Query(t.Context(), audit.Filter{Repository: "registry.example.com/team"}, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 3 {
				t.Errorf("by repository: %d records, want 3", len(page))
			}
			page, _, err = l.Query(t.Context(), audit.Filter{User: sample(1).User.Username}, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 1 || page[0].Seq != 1 {
				t.Errorf("by user: %d records, want record 1", len(page))
			}
		})
	}
}

// Version 12 drops audit_images_recent: a record not yet in SQLite's
// lookups is found by digest and repository through its images column,
// which the migration fills for those records from their rows there. The
// records in the lookups keep none, and a leftover row of theirs is
// dropped. The log still verifies, its tail is found, and a step later
// reads the tail's images from the column.
func TestMigrationMovesTheTailsImagesToAColumn(t *testing.T) {
	t.Parallel()
	u := storetest.URL(t, store.SQLite)
	raw := migratedTo(t, store.SQLite, u, 11)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Six records as version 11's writer left them: 0-2 in the lists
	// (indexed 3), 3-5 with rows in audit_images_recent, and a row of
	// record 1 not yet cleared from there. Record 4 runs two images.
	sidecar := "sha256:" + strings.Repeat("b", 64)
	recs := make([]audit.Record, 6)
	for i := range recs {
		r := sample(i)
		if i == 4 {
			r.Images = append(r.Images, audit.Image{Container: "proxy", Ref: "registry.example.com/team/sidecar:2", Digest: sidecar})
		}
		r.Seq, r.Time = uint64(i), r.Time.UTC()
		recs[i] = r
		body, err := audit.Canonical(r)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := audit.Leaf(r)
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO audit_log (seq, leaf, record, recorded_at, event, decision, namespace, kind, name, username)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, i, leaf, string(body), r.Time.UnixNano(), r.Event, r.Decision, r.Namespace, r.Kind, r.Name, r.User.Username)
		if i < 3 {
			exec("INSERT INTO audit_object_lists VALUES (?, ?, ?, ?, json_array(?))", r.Namespace, r.Kind, r.Name, i, i)
			exec("INSERT INTO audit_image_lists VALUES (?, ?, json_array(?))", r.Images[0].Digest, i, i)
			exec("INSERT INTO audit_user_lists VALUES (?, ?, json_array(?))", r.User.Username, i, i)
		}
		if i == 1 || i >= 3 {
			for _, im := range r.Images {
				exec("INSERT INTO audit_images_recent (seq, digest, container, repository) VALUES (?, ?, ?, ?)", i, im.Digest, im.Container, audit.Repository(im.Ref))
			}
		}
	}
	exec("INSERT INTO audit_repository_lists VALUES ('registry.example.com/team/api', 2, '[0,1,2]')")
	exec("UPDATE audit_head SET indexed = 3")
	raw.Close()
	db, err := store.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tamperLog{db: db}.rebuildHead(t)

	var tables int
	if err := db.SQL().QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'audit_images_recent'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("audit_images_recent: %d tables (%v), want it dropped", tables, err)
	}
	if nulls := sqlSeqs(t, db, "SELECT seq FROM audit_log WHERE images IS NULL ORDER BY seq"); !slices.Equal(nulls, []uint64{0, 1, 2}) {
		t.Errorf("records without an images column: %v, want those in the lookups, 0-2", nulls)
	}
	// Verify compares each column with its record: 4's holds two pairs.
	if rep, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil || rep.Size != 6 {
		t.Fatalf("after migrating: Verify = %+v, %v", rep, err)
	}
	l := newLog(t, db, audit.WithIndexSteps(1<<30, 128, time.Hour))
	for _, f := range []audit.Filter{{Digest: recs[4].Images[0].Digest}, {Digest: sidecar}, {Repository: "registry.example.com/team/sidecar"}} {
		page, _, err := l.Query(t.Context(), f, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 1 || page[0].Seq != 4 {
			t.Errorf("Query(%+v) = %d records, want record 4", f, len(page))
		}
	}
	findsEach(t, l, 0, 6)
	// Close adds the tail to the lookups, reading its images from the
	// column: record 4's two digests and two repositories each.
	l.Close()
	if got, w := readLookups(t, db), (lookups{indexed: 6, objects: 6, images: 7, repos: 7, users: 6}); got != w {
		t.Errorf("after the step: %+v, want %+v", got, w)
	}
	if rep, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil || rep.Size != 6 {
		t.Errorf("after the step: Verify = %+v, %v", rep, err)
	}
}

// migratedTo opens the database at u without store.Open and applies the
// schema up to version, as a build of that version left it.
func migratedTo(t *testing.T, d store.Dialect, u string, version int) *sql.DB {
	t.Helper()
	raw := openRaw(t, d, u)
	migrations, err := store.Migrations(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:version] {
		if _, err := raw.Exec(m.SQL); err != nil {
			t.Fatalf("version %d: %v", m.Version, err)
		}
		if _, err := raw.Exec("INSERT INTO schema_migrations VALUES ($1, $2, 'then')", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func openRaw(t *testing.T, d store.Dialect, u string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", u
	if d == store.SQLite {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		driver, dsn = "sqlite", "file:"+p.Host+p.Path
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// A step the database refuses costs no record: appends go on, queries find
// the records through their columns, and a later step adds them once the
// database takes it.
func TestARefusedStepLosesNothing(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	if _, err := db.SQL().Exec(`CREATE TRIGGER refuse BEFORE INSERT ON audit_object_lists BEGIN SELECT RAISE(FAIL, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	l := newLog(t, db, audit.WithIndexSteps(4, 8, 20*time.Millisecond))
	appendN(t, l, 0, 20)
	if got := readLookups(t, db); got.indexed != 0 || got.objects != 0 {
		t.Fatalf("with every step refused: %+v, want nothing in the lookups", got)
	}
	findsEach(t, l, 0, 20)
	if _, err := db.SQL().Exec("DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	// The ticker's next step, once the database takes it.
	deadline := time.Now().Add(20 * time.Second)
	for readLookups(t, db).indexed != 20 {
		if time.Now().After(deadline) {
			t.Fatalf("no step added the records after the database took them again: %+v", readLookups(t, db))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, w := readLookups(t, db), (lookups{indexed: 20, objects: 20, images: 20, repos: 20, users: 20}); got != w {
		t.Errorf("after the step: %+v, want %+v", got, w)
	}
	findsEach(t, l, 0, 20)
}
