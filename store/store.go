package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"               // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database behind a DB.
type Dialect string

// The two backends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrUnsupportedURL is returned for a store URL of another scheme.
var ErrUnsupportedURL = errors.New("store URL must start with sqlite:// or postgres://")

// DB is an open store: one database handle shared by every package that
// keeps state.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	where   string // the URL without credentials, for messages
	stmts   Stmts  // the statements run on every admission
}

// Open connects to url — sqlite:///abs/path.db, sqlite://relative.db,
// sqlite://:memory: is refused (a gateway's log must survive it) — or
// postgres://… / postgresql://…, and applies pending migrations.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("opening store: parsing URL: %w", ErrUnsupportedURL)
	}
	var db *DB
	switch u.Scheme {
	case "sqlite":
		db, err = openSQLite(u)
	case "postgres", "postgresql":
		db, err = openPostgres(rawURL, u)
	default:
		return nil, fmt.Errorf("opening store: scheme %q: %w", u.Scheme, ErrUnsupportedURL)
	}
	if err != nil {
		return nil, err
	}
	if err := db.ping(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("opening store %s: %w", db.where, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// openSQLite opens the file with WAL and synchronous=FULL: a committed
// transaction survives a power cut. busy_timeout lets concurrent writers
// wait for the lock rather than fail; _txlock=immediate takes the write
// lock at BEGIN, so two writers never deadlock upgrading a read lock.
func openSQLite(u *url.URL) (*DB, error) {
	path := u.Host + u.Path // sqlite://rel.db → Host "rel.db"; sqlite:///abs → Path "/abs"
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("opening store: sqlite URL names no file: %w", ErrUnsupportedURL)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("opening store: creating %s: %w", dir, err)
		}
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store sqlite://%s: %w", path, err)
	}
	return &DB{sql: db, dialect: SQLite, where: "sqlite://" + path}, nil
}

// ping opens the first connection. On SQLite it tries again, for about a
// second, when the file was busy: two processes that open a new file at
// once both read it, then both write its header to switch it to WAL, and
// SQLite answers one of them SQLITE_BUSY at once, whatever busy_timeout
// says, rather than have each wait for the other's read lock forever. By
// the next try the other has switched it.
func (db *DB) ping(ctx context.Context) error {
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		err := db.sql.PingContext(ctx)
		var se *sqlite.Error
		if db.dialect != SQLite || err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || wait > time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func openPostgres(raw string, u *url.URL) (*DB, error) {
	db, err := sql.Open("pgx", raw)
	if err != nil {
		return nil, fmt.Errorf("opening store postgres://%s%s: %w", u.Host, u.Path, err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{sql: db, dialect: Postgres, where: "postgres://" + u.Host + u.Path}, nil
}

// SQL is the database handle.
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect says which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String is the store's URL without credentials.
func (db *DB) String() string { return db.where }

// Close closes the handle.
func (db *DB) Close() error {
	db.stmts.Close()
	return db.sql.Close()
}

// Rebind turns the "?" placeholders of a query into PostgreSQL's $1, $2, …
// Queries are written once, with "?", for both backends. A "?" inside a
// string literal is not supported (none of shipgate's queries has one).
func (db *DB) Rebind(query string) string {
	if db.dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Now is the store's clock: PostgreSQL's now() where several replicas must
// agree on time (approval expiry), the local clock for SQLite's one replica.
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	if db.dialect == SQLite {
		return time.Now().UTC(), nil
	}
	var t time.Time
	if err := db.sql.QueryRowContext(ctx, "SELECT now()").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("reading the store's clock: %w", err)
	}
	return t.UTC(), nil
}

// InTx runs fn in a transaction and commits it; an error from fn rolls it
// back and is returned as is.
func (db *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction on %s: %w", db.where, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing to %s: %w", db.where, err)
	}
	return nil
}
