package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// queryLog holds 12 records: namespaces prod/dev alternate, every third is
// by dev-0, images from two repositories, decisions by seq.
func queryLog(t *testing.T, l *audit.Log) {
	t.Helper()
	queryRecords(t, l, 0, 12)
}

// queryRecords appends queryLog's records from to to-1.
func queryRecords(t *testing.T, l *audit.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		r := sample(i)
		if i%2 == 1 {
			r.Namespace = "dev"
		}
		if i%4 == 0 {
			r.Images = append(r.Images, audit.Image{Container: "proxy", Ref: "registry.example.com/infra/envoy:1.30@sha256:" + strings.Repeat("e", 64), Digest: "sha256:" + strings.Repeat("e", 64)})
		}
		if i >= 6 {
			r.Decision = audit.DecisionAdmitted
			r.Kind = "StatefulSet"
		}
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueryFiltersAndPages(t *testing.T) {
	t.Parallel()
	// On SQLite a record is in the lookups by object and image once a
	// step has added it (index.go), and found by its columns until then:
	// the records are in neither, in both, or half in each.
	noSteps := audit.WithIndexSteps(1<<30, 128, time.Hour)
	layouts := map[string]struct {
		open    func(t *testing.T, db *store.DB) *audit.Log
		indexed int64 // on SQLite; PostgreSQL's is always the size
	}{
		"appended": {func(t *testing.T, db *store.DB) *audit.Log {
			l := newLog(t, db, noSteps)
			queryLog(t, l)
			return l
		}, 0},
		"in the lookups": {func(t *testing.T, db *store.DB) *audit.Log {
			l := newLog(t, db, noSteps)
			queryLog(t, l)
			l.Close() // runs the last step
			return newLog(t, db, noSteps)
		}, 12},
		"half in the lookups": {func(t *testing.T, db *store.DB) *audit.Log {
			l := newLog(t, db, noSteps)
			queryRecords(t, l, 0, 6)
			l.Close()
			l = newLog(t, db, noSteps)
			queryRecords(t, l, 6, 12)
			return l
		}, 6},
	}
	for _, d := range storetest.Dialects {
		for layout, lay := range layouts {
			t.Run(string(d)+"/"+layout, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				db := storetest.Open(t, d)
				l := lay.open(t, db)
				var indexed int64
				if err := db.SQL().QueryRow("SELECT indexed FROM audit_head WHERE id = 1").Scan(&indexed); err != nil {
					t.Fatal(err)
				}
				if want := map[store.Dialect]int64{store.SQLite: lay.indexed, store.Postgres: 12}[d]; indexed != want {
					t.Fatalf("audit_head.indexed = %d, want %d", indexed, want)
				}
				tests := map[string]struct {
					f    audit.Filter
					want []uint64
				}{
					"everything":                   {audit.Filter{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
					"a namespace":                  {audit.Filter{Namespace: "dev"}, []uint64{1, 3, 5, 7, 9, 11}},
					"a kind and a decision":        {audit.Filter{Kind: "StatefulSet", Decision: audit.DecisionAdmitted}, []uint64{6, 7, 8, 9, 10, 11}},
					"an object":                    {audit.Filter{Namespace: "prod", Kind: "Deployment", Name: "api-4"}, []uint64{4}},
					"a user":                       {audit.Filter{User: "dev-0"}, []uint64{0, 3, 6, 9}},
					"a repository prefix":          {audit.Filter{Repository: "registry.example.com/infra"}, []uint64{0, 4, 8}},
					"a repository":                 {audit.Filter{Repository: "registry.example.com/team/api"}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
					"a repository nobody uses":     {audit.Filter{Repository: "registry.example.com/tea/"}, nil},
					"a prefix inside a segment":    {audit.Filter{Repository: "registry.example.com/team/ap"}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
					"a prefix just past the last":  {audit.Filter{Repository: "registry.example.com/team/apj"}, nil},
					"a digest":                     {audit.Filter{Digest: "sha256:" + strings.Repeat("0", 63) + "5"}, []uint64{5}},
					"a time window":                {audit.Filter{Since: base.Add(3 * time.Second), Until: base.Add(6 * time.Second)}, []uint64{3, 4, 5}},
					"since, in another time zone":  {audit.Filter{Since: base.Add(10 * time.Second).UTC()}, []uint64{10, 11}},
					"filters combined to nothing":  {audit.Filter{Namespace: "dev", Decision: audit.DecisionDenied, User: "dev-1", Kind: "StatefulSet"}, nil},
					"a digest in a user's records": {audit.Filter{User: "dev-2", Digest: "sha256:" + strings.Repeat("e", 64)}, []uint64{8}},
				}
				for name, tc := range tests {
					// Walk the pages two at a time: the cursor must neither skip
					// nor repeat a record.
					var got []uint64
					cursor, pages := "", 0
					for {
						page, next, err := l.Query(ctx, tc.f, cursor, 2)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if len(page) > 2 {
							t.Fatalf("%s: a page of %d records, limit 2", name, len(page))
						}
						for _, e := range page {
							got = append(got, e.Seq)
						}
						pages++
						if next == "" {
							break
						}
						cursor = next
					}
					if !slices.Equal(got, tc.want) {
						t.Errorf("%s: seqs %v, want %v", name, got, tc.want)
					}
					if wantPages := max(1, (len(tc.want)+1)/2); pages != wantPages {
						t.Errorf("%s: %d pages, want %d", name, pages, wantPages)
					}
				}
				if _, _, err := l.Query(ctx, audit.Filter{}, "not-a-cursor", 2); !errors.Is(err, audit.ErrBadCursor) {
					t.Errorf("Query with a bad cursor = %v, want ErrBadCursor", err)
				}
			})
		}
	}
}

func TestExportParsesBack(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			l := newLog(t, storetest.Open(t, d))
			queryLog(t, l)
			f := audit.Filter{Namespace: "prod"}
			want, _, err := l.Query(ctx, f, "", 100)
			if err != nil {
				t.Fatal(err)
			}

			var jl bytes.Buffer
			if err := l.Export(ctx, &jl, f, audit.FormatJSONL); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(&jl)
			var got []audit.Entry
			for sc.Scan() {
				var e audit.Entry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				got = append(got, e)
			}
			if len(got) != len(want) {
				t.Fatalf("jsonl: %d lines, want %d", len(got), len(want))
			}
			for i := range got {
				a, _ := audit.Leaf(got[i].Record)
				b, _ := audit.Leaf(want[i].Record)
				if got[i].Seq != want[i].Seq || !bytes.Equal(a, b) {
					t.Errorf("jsonl line %d: seq %d leaf %x, want %d %x", i, got[i].Seq, a, want[i].Seq, b)
				}
			}

			var cb bytes.Buffer
			if err := l.Export(ctx, &cb, f, audit.FormatCSV); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&cb).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(want)+1 || rows[0][0] != "seq" {
				t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			first := rows[1]
			if first[col["seq"]] != "0" || first[col["namespace"]] != "prod" || first[col["time"]] != "2026-11-27T02:04:05.123456789Z" ||
				first[col["groups"]] != "devs;system:authenticated" ||
				!strings.Contains(first[col["images"]], "proxy=registry.example.com/infra/envoy:1.30@sha256:eee") {
				t.Errorf("csv row = %v", first)
			}

			if err := l.Export(ctx, &cb, f, "xml"); !errors.Is(err, audit.ErrUnknownFormat) {
				t.Errorf("Export as xml = %v, want ErrUnknownFormat", err)
			}
		})
	}
}

func TestExportStreamsPastOnePage(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			l := newLog(t, storetest.Open(t, d))
			n := audit.MaxLimit + 150
			appendConcurrently(t, l, 10, n/10, 0)
			var b bytes.Buffer
			if err := l.Export(t.Context(), &b, audit.Filter{}, audit.FormatJSONL); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(&b)
			next := uint64(0)
			for sc.Scan() {
				var e audit.Entry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Seq != next {
					t.Fatalf("line %d: seq %d, %v", next, e.Seq, err)
				}
				next++
			}
			if next != uint64(n) {
				t.Errorf("exported %d records, want %d", next, n)
			}
		})
	}
}

// TestImageRowsOnePerImage: a record gets one image row per distinct
// digest and repository: on PostgreSQL in audit_images, naming the first
// container that runs it; on SQLite as a pair of its images column, until
// a step (which never comes here) lists it. It is still found by each
// digest and repository it names, an image without a digest (not
// resolved) included.
func TestImageRowsOnePerImage(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := storetest.Open(t, d)
			l := newLog(t, db, audit.WithIndexSteps(1<<30, 128, time.Hour))
			app := "sha256:" + strings.Repeat("a", 64)
			sidecar := "sha256:" + strings.Repeat("b", 64)
			r := sample(0)
			r.Images = []audit.Image{
				{Container: "init", Ref: "registry.example.com/team/sidecar:2", Digest: sidecar},
				{Container: "api", Ref: "registry.example.com/team/api:1.2", Digest: app},
				{Container: "worker", Ref: "registry.example.com/team/api:1.2", Digest: app},
				{Container: "cron", Ref: "registry.example.com/team/api@" + app, Digest: app},
				{Container: "proxy", Ref: "registry.example.com/team/sidecar:2", Digest: sidecar},
				{Container: "mirror", Ref: "mirror.example.com/team/api:1.2", Digest: app},
				{Container: "debug", Ref: "registry.example.com/team/debug:latest"},
			}
			seq, err := l.Append(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			// PostgreSQL's writer fills audit_images with each record.
			q := `SELECT digest, container, repository FROM audit_images WHERE seq = ? ORDER BY container`
			if d == store.SQLite {
				q = `SELECT j.value ->> 0, '', j.value ->> 1 FROM audit_log, json_each(audit_log.images) j WHERE seq = ? ORDER BY j.key`
			}
			rows, err := db.SQL().QueryContext(ctx, db.Rebind(q), int64(seq))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var digest, container, repo string
				if err := rows.Scan(&digest, &container, &repo); err != nil {
					t.Fatal(err)
				}
				got = append(got, container+" "+repo+" "+digest)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"api registry.example.com/team/api " + app,
				"debug registry.example.com/team/debug ",
				"init registry.example.com/team/sidecar " + sidecar,
				"mirror mirror.example.com/team/api " + app,
			}
			if d == store.SQLite { // the record's order, without containers
				want = []string{
					" registry.example.com/team/sidecar " + sidecar,
					" registry.example.com/team/api " + app,
					" mirror.example.com/team/api " + app,
					" registry.example.com/team/debug ",
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("audit_images rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, f := range []audit.Filter{
				{Digest: app}, {Digest: sidecar},
				{Repository: "mirror.example.com/team/api"}, {Repository: "registry.example.com/team/debug"},
			} {
				page, _, err := l.Query(ctx, f, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 || page[0].Seq != seq {
					t.Errorf("Query(%+v) = %d records, want record %d", f, len(page), seq)
				}
			}
		})
	}
}

// A query by repository prefix reads a range of the lookup's key, from the
// prefix to the least string past every string it starts: prefixes ending
// in characters of several bytes, or in the greatest there is, find
// exactly the records whose repository starts with them, in the lookup
// and before a step has added them there.
func TestQueryByRepositoryPrefixIsARange(t *testing.T) {
	t.Parallel()
	repos := []string{"r.example/ü", "r.example/ü\U0010FFFFx", "r.example/\U0010FFFF", "r.example/\U0010FFFF\U0010FFFF", "r.example/v", "r.example/\uD7FF", "r.example/\uE000", "r.exampl"}
	tests := map[string][]uint64{
		"r.example/":                     {0, 1, 2, 3, 4, 5, 6},
		"r.example/ü":                    {0, 1},
		"r.example/ü\U0010FFFF":          {1},
		"r.example/\U0010FFFF":           {2, 3},
		"r.example/\U0010FFFF\U0010FFFF": {3},
		"r.example/\uD7FF":               {5},
		"r.example/\uE000":               {6},
		"r.exampl":                       {0, 1, 2, 3, 4, 5, 6, 7},
		"r.example/w":                    nil,
	}
	for _, d := range storetest.Dialects {
		for _, stepped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/in the lookup=%v", d, stepped), func(t *testing.T) {
				t.Parallel()
				db := storetest.Open(t, d)
				noSteps := audit.WithIndexSteps(1<<30, 128, time.Hour)
				l := newLog(t, db, noSteps)
				for i, repo := range repos {
					r := sample(i)
					r.Images = []audit.Image{{Container: "app", Ref: repo + ":1", Digest: fmt.Sprintf("sha256:%064x", i)}}
					if _, err := l.Append(t.Context(), r); err != nil {
						t.Fatal(err)
					}
				}
				if stepped {
					l.Close()
					l = newLog(t, db, noSteps)
				}
				for prefix, want := range tests {
					if got := querySeqs(t, l, audit.Filter{Repository: prefix}, 100); !slices.Equal(got, want) {
						t.Errorf("prefix %q: records %v, want %v", prefix, got, want)
					}
				}
			})
		}
	}
}

// On SQLite a record not yet in the lookups is found by digest and by
// repository prefix in its images column: by its JSON text when the value
// is printable ASCII that no encoder escapes, else by parsing it. Either
// way a digest matches whole, and a prefix only a repository's start; a
// step (here at Close) changes no answer.
func TestQueryTheImagesColumnExactly(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l := newLog(t, db, audit.WithIndexSteps(1<<30, 128, time.Hour))
	images := [][2]string{
		{"sha256:ab", "r.example/app"},
		{"sha256:abc", "r.example/app-2"},
		{`sha256:"<odd>&\`, "r.example/a<b"},
		{"sha256:ab2", "mirror.example/r.example/app"},
	}
	for i, im := range images {
		r := sample(i)
		r.Images = []audit.Image{{Container: "c", Ref: im[1] + ":1", Digest: im[0]}}
		if _, err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[audit.Filter][]uint64{
		{Digest: "sha256:ab"}:           {0},
		{Digest: "sha256:abc"}:          {1},
		{Digest: "sha256:a"}:            nil,
		{Digest: `sha256:"<odd>&\`}:     {2},
		{Repository: "r.example/app"}:   {0, 1},
		{Repository: "r.example/app-"}:  {1},
		{Repository: "r.example/a"}:     {0, 1, 2},
		{Repository: "r.example/a<"}:    {2},
		{Repository: "example/app"}:     nil,
		{Repository: "mirror.example/"}: {3},
	}
	check := func(when string) {
		for f, want := range tests {
			if got := querySeqs(t, l, f, 10); !slices.Equal(got, want) {
				t.Errorf("%s: Query(%+v) = %v, want %v", when, f, got, want)
			}
		}
	}
	check("before a step")
	l.Close()
	if got := readLookups(t, db); got.indexed != len(images) {
		t.Fatalf("after Close: %+v, want every record in the lookups", got)
	}
	l = newLog(t, db)
	check("in the lookups")
	if _, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
