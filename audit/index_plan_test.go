package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// Queries by object and by image go through the lookups and the few
// records not in them yet, not through the whole log: SQLite's plan
// searches the lists of audit_object_lists, audit_image_lists,
// audit_repository_lists or audit_user_lists by key and, but for a
// namespace alone, by their last seq from the cursor on, and reads
// audit_log by the seqs found (rowid=?, or seq=? in another index), not by
// walking it from the cursor (rowid>?) or whole (SCAN).
func TestQueriesByObjectAndImageUseTheLookups(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l, err := New(db, WithIndexSteps(64, 128, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 300 {
		r := Record{Event: EventAdmission, Namespace: "prod", Kind: "Deployment", Name: fmt.Sprintf("api-%d", i%20), Decision: DecisionDenied, User: User{Username: fmt.Sprintf("dev-%d", i%3)},
			Images: []Image{{Container: "api", Ref: "registry.example.com/team/api:1", Digest: fmt.Sprintf("sha256:%064x", i%20)}}}
		if _, err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f      Filter
		search string
	}{
		{Filter{Namespace: "prod", Kind: "Deployment", Name: "api-3"}, "SEARCH audit_object_lists USING PRIMARY KEY (namespace=? AND kind=? AND name=? AND last>?)"},
		{Filter{Namespace: "prod", Kind: "Deployment", Name: "api-3", Decision: DecisionDenied, User: "dev-0"}, "SEARCH audit_object_lists USING PRIMARY KEY (namespace=? AND kind=? AND name=? AND last>?)"},
		{Filter{Namespace: "prod"}, "SEARCH audit_object_lists USING PRIMARY KEY (namespace=?)"},
		{Filter{Digest: fmt.Sprintf("sha256:%064x", 3)}, "SEARCH audit_image_lists USING PRIMARY KEY (digest=? AND last>?)"},
		{Filter{Repository: "registry.example.com/team"}, "SEARCH audit_repository_lists USING PRIMARY KEY (repository>? AND repository<?)"},
		{Filter{User: "dev-1"}, "SEARCH audit_user_lists USING PRIMARY KEY (username=? AND last>?)"},
	} {
		q, args := tc.f.query(100, 101, true)
		rows, err := db.SQL().QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		outer := ""
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
			if parent == 0 && strings.Contains(detail, "audit_log") {
				outer = detail
			}
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		byFound := strings.HasPrefix(outer, "SEARCH audit_log ") && (strings.Contains(outer, "rowid=?") || strings.Contains(outer, "seq=?"))
		if !strings.Contains(text, tc.search) || !byFound {
			t.Errorf("%+v: plan\n%s\nwant %q, and audit_log read by the seqs found", tc.f, text, tc.search)
		}
	}
}
