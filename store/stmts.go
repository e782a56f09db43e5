package store

import (
	"context"
	"database/sql"
	"sync"
)

// Stmts caches prepared statements by query text, so a statement run on
// every admission is parsed once per connection instead of on every run
// (SQLite parses in process: a few tens of microseconds a statement). They
// are prepared on the database handle: database/sql keeps one per
// connection, and a transaction on a connection that has it reuses it.
// The zero value is ready to use.
type Stmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// Get returns query prepared on db. It prepares without holding the
// cache's lock, so a database that does not answer holds up only the
// callers that need it, each until its own deadline.
func (s *Stmts) Get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[query]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if had, ok := s.m[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return had, nil
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	return st, nil
}

// In returns query prepared on db, bound to tx.
func (s *Stmts) In(ctx context.Context, db *sql.DB, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := s.Get(ctx, db, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// Close closes every statement prepared.
func (s *Stmts) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.m {
		st.Close()
	}
	s.m = nil
}
