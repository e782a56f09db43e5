package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestStmtsPrepareOnce: callers asking for one query at once get one
// statement, which works inside a transaction and outside, on both stores.
func TestStmtsPrepareOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			var s store.Stmts
			defer s.Close()
			ctx := context.Background()
			query := db.Rebind("SELECT count(*) FROM pins WHERE namespace = ?")
			got := make([]*sql.Stmt, 16)
			var wg sync.WaitGroup
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := s.Get(ctx, db.SQL(), query)
					if err != nil {
						t.Error(err)
					}
					got[i] = st
				}()
			}
			wg.Wait()
			first, err := s.Get(ctx, db.SQL(), query)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range got {
				if st != first {
					t.Fatalf("caller %d got a statement of its own", i)
				}
			}
			var n int
			if err := first.QueryRowContext(ctx, "shop").Scan(&n); err != nil || n != 0 {
				t.Fatalf("outside a transaction: %d, %v", n, err)
			}
			err = db.InTx(ctx, func(tx *sql.Tx) error {
				st, err := s.In(ctx, db.SQL(), tx, query)
				if err != nil {
					return err
				}
				return st.QueryRowContext(ctx, "shop").Scan(&n)
			})
			if err != nil || n != 0 {
				t.Fatalf("in a transaction: %d, %v", n, err)
			}
		})
	}
}
