package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// migrations holds the schema, one file per version and dialect:
// NNNN_name.sqlite.sql and NNNN_name.postgres.sql. A version is applied
// once, in its own transaction, recorded in schema_migrations; files are
// never edited after they ship, only new versions added.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migration is one schema version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the schema versions for a dialect, in order.
func Migrations(d Dialect) ([]Migration, error) {
	files, err := fs.Glob(migrations, "migrations/*."+string(d)+".sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, name, ok := strings.Cut(strings.TrimSuffix(base, "."+string(d)+".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s is not NNNN_name.%s.sql", base, d)
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations for %s jump from %d to %d", d, i, m.Version)
		}
	}
	return out, nil
}

// migrate applies the versions not applied yet. On PostgreSQL a session
// advisory lock, held on one connection for the whole run, makes replicas
// starting together apply each version once.
func (db *DB) migrate(ctx context.Context) error {
	all, err := Migrations(db.dialect)
	if err != nil {
		return err
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", db.where, err)
	}
	defer conn.Close()
	if db.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7071966)"); err != nil {
			return fmt.Errorf("migrating %s: taking the migration lock: %w", db.where, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7071966)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrating %s: %w", db.where, err)
	}
	for _, m := range all {
		if err := db.apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migrating %s to version %d (%s): %w", db.where, m.Version, m.Name, err)
		}
	}
	return nil
}

// apply runs one migration in a transaction unless it is recorded already.
func (db *DB) apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, db.Rebind("SELECT count(*) FROM schema_migrations WHERE version = ?"), m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, CURRENT_TIMESTAMP)"), m.Version, m.Name); err != nil {
		return err
	}
	return tx.Commit()
}

// Version is the newest schema version applied.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version of %s: %w", db.where, err)
	}
	return int(v.Int64), nil
}
