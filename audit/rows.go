package audit

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate/store"
)

// chunkSizes are the row counts of the multi-row statements a batch is
// written with on SQLite, largest first: a batch of n rows takes at most
// n/64 + 9 statements, each prepared once per connection and reused, so
// SQLite parses no SQL per batch. 64 rows × 11 columns stays far below its
// 32,766 bound parameters. (PostgreSQL takes a batch as arrays in one
// statement: see insertRowsPostgres.)
var chunkSizes = []int{64, 16, 4, 1}

// chunks splits n items into runs of chunkSizes, calling fn with each run's
// start and length.
func chunks(n int, fn func(start, k int) error) error {
	start := 0
	for _, k := range chunkSizes {
		for n-start >= k {
			if err := fn(start, k); err != nil {
				return err
			}
			start += k
		}
	}
	return nil
}

// values is k groups of cols placeholders: "(?, ?), (?, ?)".
func values(k, cols int) string {
	group := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return group + strings.Repeat(", "+group, k-1)
}

// knownUIDs maps the batch's request uids already in the log to their
// seqs: on PostgreSQL with its unique index, on SQLite from the writer's
// memory of recent uids (uids.go). size is the log's size, read under the
// head's lock.
func (l *Log) knownUIDs(ctx context.Context, tx *sql.Tx, size uint64, jobs []*job) (map[string]uint64, error) {
	if l.db.Dialect() != store.Postgres {
		return l.knownUIDsSQLite(ctx, tx, size, jobs)
	}
	known := map[string]uint64{}
	var uids []string
	for _, j := range jobs {
		if j.rec.RequestUID != "" {
			uids = append(uids, j.rec.RequestUID)
		}
	}
	if len(uids) == 0 {
		return known, nil
	}
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, "SELECT request_uid, seq FROM audit_log WHERE request_uid = ANY($1)")
	if err != nil {
		return nil, fmt.Errorf("looking up request uids: %w", err)
	}
	rows, err := st.QueryContext(ctx, uids)
	if err != nil {
		return nil, fmt.Errorf("looking up request uids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid string
		var seq int64
		if err := rows.Scan(&uid, &seq); err != nil {
			return nil, fmt.Errorf("looking up request uids: %w", err)
		}
		known[uid] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up request uids: %w", err)
	}
	return known, nil
}

// auditLogColumns are the columns of a SQLite audit_log row but seq.
const auditLogColumns = "leaf, record, recorded_at, request_uid, event, decision, namespace, kind, name, username, images"

// imageRow is one audit_images row of a record.
type imageRow struct{ digest, container, repository string }

// imageRows are the audit_images rows of a record: one per distinct digest
// and repository, in the record's order, naming the first container that
// runs it. The table only finds records by digest and by repository, so a
// Pod whose five containers run two images writes two rows, not five (each
// row is two B-tree inserts on the append path). An image not resolved to
// a digest keeps its row, digest "", so a denial is still found by
// repository.
func imageRows(images []Image) []imageRow {
	rows := make([]imageRow, 0, len(images))
	for _, im := range images {
		r := imageRow{im.Digest, im.Container, Repository(im.Ref)}
		if !slices.ContainsFunc(rows, func(o imageRow) bool { return o.digest == r.digest && o.repository == r.repository }) {
			rows = append(rows, r)
		}
	}
	return rows
}

// imagesColumn is SQLite's audit_log column images for a record's image
// rows: their [digest, repository] pairs as a JSON array, "[]" for none.
// A record not yet in the lookups (index.go) is found by digest and by
// repository through it; written with the record, it costs the writer one
// bound string, where rows of a table of their own, and their deletion
// once a step had listed them, had cost it a fifth of its time.
func imagesColumn(rows []imageRow) (string, error) {
	var b strings.Builder
	b.Grow(2 + len(rows)*128)
	b.WriteByte('[')
	for i, r := range rows {
		if !plainString(r.digest) || !plainString(r.repository) {
			return imagesColumnJSON(rows)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["`)
		b.WriteString(r.digest)
		b.WriteString(`","`)
		b.WriteString(r.repository)
		b.WriteString(`"]`)
	}
	b.WriteByte(']')
	return b.String(), nil
}

// imagesColumnJSON is imagesColumn by encoding/json, for strings it
// escapes.
func imagesColumnJSON(rows []imageRow) (string, error) {
	pairs := make([][2]string, len(rows))
	for i, r := range rows {
		pairs[i] = [2]string{r.digest, r.repository}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(pairs); err != nil {
		return "", fmt.Errorf("encoding the images column: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// sameImages says whether an images column holds the pairs of rows, in
// any order: a migrated column was written by SQLite, not imagesColumn,
// so a column that is not imagesColumn's text is parsed and compared.
func sameImages(col string, rows []imageRow) bool {
	if want, err := imagesColumn(rows); err == nil && col == want {
		return true
	}
	var pairs [][2]string
	if err := json.Unmarshal([]byte(col), &pairs); err != nil || pairs == nil || len(pairs) != len(rows) {
		return false
	}
	want := make([][2]string, len(rows))
	for i, r := range rows {
		want[i] = [2]string{r.digest, r.repository}
	}
	order := func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) }
	slices.SortFunc(pairs, order)
	slices.SortFunc(want, order)
	return slices.Equal(pairs, want)
}

// insertRows writes rows. PostgreSQL's also fill the lookups by object,
// image, repository and user; SQLite's leave that to a later step of many
// records (index.go), and find the records until then by columns of
// audit_log: the object's, username and images.
func (l *Log) insertRows(ctx context.Context, tx *sql.Tx, rows []row) error {
	if l.db.Dialect() == store.Postgres {
		return l.insertRowsPostgres(ctx, tx, rows)
	}
	return l.insertRowsSQLite(ctx, tx, rows)
}

// insertRowsSQLite writes rows with the multi-row statements of chunkSizes:
// SQLite runs in process, so several statements cost no round trips.
//
// They are INSERT OR FAIL: a row the database refuses stops the statement
// with the rows before it written, instead of undoing them; a failed
// statement rolls the whole transaction back (commit), so that undo is
// never needed.
//
// The audit_log rows leave seq to SQLite, which numbers each row one past
// the largest seq in the table: the head says that is the row's seq, and
// the last number given is checked against it. Given an explicit value
// for its INTEGER PRIMARY KEY, a multi-row INSERT must check that the
// value is an integer and could stop on one that is not, so SQLite keeps
// a statement journal for it whatever the conflict clause: a copy of every
// page the statement changes, taken before it changes it, spilled to a
// temporary file past 64 KiB. That was a tenth of the writer's CPU at 64
// writers. Only the log's first record, seq 0, is given its number (alone,
// so without a journal): SQLite would number it 1.
func (l *Log) insertRowsSQLite(ctx context.Context, tx *sql.Tx, rows []row) error {
	const cols = 11
	args := make([]any, 0, cols*len(rows))
	for _, r := range rows {
		var uid any
		if r.rec.RequestUID != "" {
			uid = r.rec.RequestUID
		}
		args = append(args, r.leaf, r.record, r.rec.Time.UnixNano(), uid,
			r.rec.Event, r.rec.Decision, r.rec.Namespace, r.rec.Kind, r.rec.Name, r.rec.User.Username, r.imagesCol)
	}
	first := 0
	if rows[0].seq == 0 {
		st, err := l.stmts.In(ctx, l.db.SQL(), tx, "INSERT OR FAIL INTO audit_log (seq, "+auditLogColumns+") VALUES "+values(1, cols+1))
		if err == nil {
			_, err = st.ExecContext(ctx, append([]any{int64(0)}, args[:cols]...)...)
		}
		if err != nil {
			return fmt.Errorf("inserting the first audit record: %w", err)
		}
		first = 1
	}
	err := chunks(len(rows)-first, func(start, k int) error {
		start += first
		st, err := l.stmts.In(ctx, l.db.SQL(), tx, "INSERT OR FAIL INTO audit_log ("+auditLogColumns+") VALUES "+values(k, cols))
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, args[start*cols:(start+k)*cols]...)
		if err != nil {
			return err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if want := rows[start+k-1].seq; uint64(last) != want {
			return fmt.Errorf("the log's rows are out of step with its head: record %d was numbered %d", want, last)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inserting %d audit records: %w", len(rows), err)
	}
	return nil
}

// insertRowsPostgres writes a batch, its images and its lookups' rows with
// one statement, whatever its size: the columns travel as arrays and
// unnest turns them into rows, so a batch costs the same round trips as
// one record.
func (l *Log) insertRowsPostgres(ctx context.Context, tx *sql.Tx, rows []row) error {
	n := len(rows)
	seqs, recordedAt := make([]int64, n), make([]int64, n)
	leaves := make([][]byte, n)
	uids := make([]*string, n)
	records, events, decisions := make([]string, n), make([]string, n), make([]string, n)
	namespaces, kinds, names, users := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	var iDigests, iContainers, iRepos []string
	var iSeqs []int64
	var repos []valueKey
	for i, r := range rows {
		seqs[i], leaves[i], records[i], recordedAt[i] = int64(r.seq), r.leaf, r.record, r.rec.Time.UnixNano()
		if r.rec.RequestUID != "" {
			uids[i] = &r.rec.RequestUID
		}
		events[i], decisions[i], namespaces[i], kinds[i], names[i], users[i] = r.rec.Event, r.rec.Decision, r.rec.Namespace, r.rec.Kind, r.rec.Name, r.rec.User.Username
		for _, im := range r.images {
			iDigests, iSeqs = append(iDigests, im.digest), append(iSeqs, int64(r.seq))
			iContainers, iRepos = append(iContainers, im.container), append(iRepos, im.repository)
		}
		repos = repoKeys(r.seq, r.images, repos)
	}
	rRepos, rSeqs := make([]string, len(repos)), make([]int64, len(repos))
	for i, k := range repos {
		rRepos[i], rSeqs[i] = k.value, int64(k.seq)
	}
	// One statement: PostgreSQL runs each insert of a WITH to completion,
	// whatever the last one reads of them.
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, `WITH
		objects AS (INSERT INTO audit_objects (namespace, kind, name, seq)
			SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $1::bigint[])),
		users AS (INSERT INTO audit_users (username, seq)
			SELECT * FROM unnest($11::text[], $1::bigint[])),
		images AS (INSERT INTO audit_images (digest, seq, container, repository)
			SELECT * FROM unnest($12::text[], $13::bigint[], $14::text[], $15::text[]) ON CONFLICT DO NOTHING),
		repositories AS (INSERT INTO audit_repositories (repository, seq)
			SELECT * FROM unnest($16::text[], $17::bigint[]) ON CONFLICT DO NOTHING)
		INSERT INTO audit_log (seq, leaf, record, recorded_at, request_uid, event, decision, namespace, kind, name, username)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`)
	if err == nil {
		_, err = st.ExecContext(ctx, seqs, leaves, records, recordedAt, uids, events, decisions, namespaces, kinds, names, users,
			iDigests, iSeqs, iContainers, iRepos, rRepos, rSeqs)
	}
	if err != nil {
		return fmt.Errorf("inserting %d audit records: %w", n, err)
	}
	return nil
}
