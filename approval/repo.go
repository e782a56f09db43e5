package approval

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shipgate/shipgate/store"
)

// querier is a *sql.Tx or a *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// repo reads and writes requests, votes and events. Every method takes the
// transaction it runs in; the Service decides where transactions begin.
type repo struct {
	db *store.DB
}

// now is the store's clock: on PostgreSQL now() inside q (a transaction's
// start time, the same for every replica), on SQLite's single replica the
// local clock.
func (p repo) now(ctx context.Context, q querier) (time.Time, error) {
	if p.db.Dialect() != store.Postgres {
		return time.Now().UTC(), nil
	}
	var t time.Time
	if err := q.QueryRowContext(ctx, "SELECT now()").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("reading the store's clock: %w", err)
	}
	return t.UTC(), nil
}

const requestColumns = `id, namespace, kind, name, fingerprint, images, requirements, requester_info,
	state, break_glass, break_glass_reason, decision_id, created_at, expires_at, decided_at, used_at, uses`

func (p repo) insert(ctx context.Context, q querier, r *Request) error {
	images, err := json.Marshal(r.Images)
	if err != nil {
		return err
	}
	reqs, err := json.Marshal(r.Requirements)
	if err != nil {
		return err
	}
	who, err := json.Marshal(r.Requester)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, p.db.Rebind(`INSERT INTO approval_requests (`+requestColumns+`, requester)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Namespace, r.Kind, r.Name, r.Fingerprint, string(images), string(reqs), string(who),
		string(r.State), boolInt(r.BreakGlass), r.BreakGlassReason, r.DecisionID,
		nanos(r.CreatedAt), nanos(r.ExpiresAt), nanos(r.DecidedAt), nanos(r.UsedAt), r.Uses, r.Requester.Name)
	if err != nil {
		return fmt.Errorf("storing approval request %s: %w", r.ID, err)
	}
	return nil
}

// get reads one request with its votes. lock takes the row lock on
// PostgreSQL, so concurrent votes on one request, from any replica, take
// turns; SQLite's immediate transactions take turns already.
func (p repo) get(ctx context.Context, q querier, id string, lock bool) (*Request, error) {
	query := `SELECT ` + requestColumns + ` FROM approval_requests WHERE id = ?`
	if lock && p.db.Dialect() == store.Postgres {
		query += " FOR UPDATE"
	}
	rs, err := p.query(ctx, q, query, id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, refusal(ErrNotFound, "no approval request %q", id)
	}
	return rs[0], nil
}

// live are the requests for a fingerprint that may still admit or take
// votes (pending, approved, used), oldest first.
func (p repo) live(ctx context.Context, q querier, namespace, fingerprint string) ([]*Request, error) {
	return p.query(ctx, q, `SELECT `+requestColumns+` FROM approval_requests
		WHERE fingerprint = ? AND namespace = ? AND state IN ('pending', 'approved', 'used') ORDER BY created_at, id`, fingerprint, namespace)
}

// lapsed are live requests whose expiry has passed at now.
func (p repo) lapsed(ctx context.Context, q querier, now time.Time, limit int) ([]*Request, error) {
	return p.query(ctx, q, `SELECT `+requestColumns+` FROM approval_requests
		WHERE state IN ('pending', 'approved', 'used') AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, nanos(now), limit)
}

// Filter selects requests for List.
type Filter struct {
	Namespace string // "" for every namespace
	State     State  // "" for every state
	// Limit bounds the answer (default 100, at most 1000); newest first.
	Limit int
}

func (p repo) list(ctx context.Context, q querier, f Filter) ([]*Request, error) {
	var where []string
	var args []any
	if f.Namespace != "" {
		where, args = append(where, "namespace = ?"), append(args, f.Namespace)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	query := `SELECT ` + requestColumns + ` FROM approval_requests`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return p.query(ctx, q, query+" ORDER BY created_at DESC, id DESC LIMIT ?", append(args, f.Limit)...)
}

// query runs a request query and reads the votes of what it found.
func (p repo) query(ctx context.Context, q querier, query string, args ...any) ([]*Request, error) {
	rows, err := q.QueryContext(ctx, p.db.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("reading approval requests: %w", err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		var r Request
		var images, reqs, who, state string
		var glass int
		var created, expires, decided, used int64
		if err := rows.Scan(&r.ID, &r.Namespace, &r.Kind, &r.Name, &r.Fingerprint, &images, &reqs, &who,
			&state, &glass, &r.BreakGlassReason, &r.DecisionID, &created, &expires, &decided, &used, &r.Uses); err != nil {
			return nil, fmt.Errorf("reading approval requests: %w", err)
		}
		r.State, r.BreakGlass = State(state), glass != 0
		r.CreatedAt, r.ExpiresAt, r.DecidedAt, r.UsedAt = fromNanos(created), fromNanos(expires), fromNanos(decided), fromNanos(used)
		for _, c := range []struct {
			col string
			v   any
		}{{images, &r.Images}, {reqs, &r.Requirements}, {who, &r.Requester}} {
			if err := json.Unmarshal([]byte(c.col), c.v); err != nil {
				return nil, fmt.Errorf("reading approval request %s: %w", r.ID, err)
			}
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading approval requests: %w", err)
	}
	rows.Close()
	for _, r := range out {
		if r.Votes, err = p.votes(ctx, q, r.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p repo) votes(ctx context.Context, q querier, id string) ([]Vote, error) {
	rows, err := q.QueryContext(ctx, p.db.Rebind(`SELECT verdict, voter, break_glass, comment, voted_at
		FROM approval_votes WHERE request_id = ? ORDER BY voted_at, username`), id)
	if err != nil {
		return nil, fmt.Errorf("reading the votes on %s: %w", id, err)
	}
	defer rows.Close()
	votes := []Vote{}
	for rows.Next() {
		var v Vote
		var voter string
		var glass int
		var at int64
		if err := rows.Scan(&v.Verdict, &voter, &glass, &v.Comment, &at); err != nil {
			return nil, fmt.Errorf("reading the votes on %s: %w", id, err)
		}
		if err := json.Unmarshal([]byte(voter), &v.User); err != nil {
			return nil, fmt.Errorf("reading the votes on %s: %w", id, err)
		}
		v.BreakGlass, v.Time = glass != 0, fromNanos(at)
		votes = append(votes, v)
	}
	return votes, rows.Err()
}

// vote stores a vote. The primary key (request, username, verdict) refuses
// a second one from the same person: ErrAlreadyVoted.
func (p repo) vote(ctx context.Context, q querier, id string, v Vote) error {
	voter, err := json.Marshal(v.User)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, p.db.Rebind(`INSERT INTO approval_votes
		(request_id, username, verdict, voter, break_glass, comment, voted_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		id, v.User.Name, v.Verdict, string(voter), boolInt(v.BreakGlass), v.Comment, nanos(v.Time))
	if isUniqueViolation(err) {
		return refusal(ErrAlreadyVoted, "%s already voted %s on approval request %s; a person counts once", v.User.Name, v.Verdict, id)
	}
	if err != nil {
		return fmt.Errorf("storing a vote on %s: %w", id, err)
	}
	return nil
}

// transition moves a request from one of the states from to r's state,
// writing r's decision fields; it reports false when another transaction
// moved it first, so each transition (and its event) happens once.
func (p repo) transition(ctx context.Context, q querier, r *Request, from ...State) (bool, error) {
	in := strings.Repeat("?, ", len(from))
	args := []any{string(r.State), boolInt(r.BreakGlass), r.BreakGlassReason, nanos(r.ExpiresAt), nanos(r.DecidedAt), nanos(r.UsedAt), r.Uses, r.ID}
	for _, s := range from {
		args = append(args, string(s))
	}
	res, err := q.ExecContext(ctx, p.db.Rebind(`UPDATE approval_requests SET state = ?, break_glass = ?, break_glass_reason = ?,
		expires_at = ?, decided_at = ?, used_at = ?, uses = ? WHERE id = ? AND state IN (`+in[:len(in)-2]+`)`), args...)
	if err != nil {
		return false, fmt.Errorf("updating approval request %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// use counts one admission on an approved request, in SQL so that
// concurrent admissions from several replicas are all counted.
func (p repo) use(ctx context.Context, q querier, id string, now time.Time) error {
	_, err := q.ExecContext(ctx, p.db.Rebind(`UPDATE approval_requests SET state = 'used', uses = uses + 1,
		used_at = CASE WHEN used_at = 0 THEN ? ELSE used_at END WHERE id = ? AND state IN ('approved', 'used')`), nanos(now), id)
	if err != nil {
		return fmt.Errorf("recording the use of approval request %s: %w", id, err)
	}
	return nil
}

// isUniqueViolation recognises a unique or primary key conflict in either
// backend.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nanos stores a time as Unix nanoseconds; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
