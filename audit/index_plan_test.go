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
// searches audit_objects or audit_images by key and never scans audit_log.
func TestQueriesByObjectAndImageUseTheLookups(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	l, err := New(db, WithIndexSteps(64, 128, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 300 {
		r := Record{Event: EventAdmission, Namespace: "prod", Kind: "Deployment", Name: fmt.Sprintf("api-%d", i%20), Decision: DecisionDenied,
			Images: []Image{{Container: "api", Ref: "registry.example.com/team/api:1", Digest: fmt.Sprintf("sha256:%064x", i%20)}}}
		if _, err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f      Filter
		search string
	}{
		{Filter{Namespace: "prod", Kind: "Deployment", Name: "api-3"}, "SEARCH audit_objects USING PRIMARY KEY (namespace=? AND kind=? AND name=? AND seq>?)"},
		{Filter{Namespace: "prod", Kind: "Deployment", Name: "api-3", Decision: DecisionDenied, User: "dev-0"}, "SEARCH audit_objects USING PRIMARY KEY (namespace=? AND kind=? AND name=? AND seq>?)"},
		{Filter{Namespace: "prod"}, "SEARCH audit_objects USING PRIMARY KEY (namespace=?)"},
		{Filter{Digest: fmt.Sprintf("sha256:%064x", 3)}, "SEARCH audit_images USING PRIMARY KEY (digest=? AND seq>?)"},
	} {
		q, args := tc.f.query(100, 101)
		rows, err := db.SQL().QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, tc.search) || strings.Contains(text, "SCAN audit_log") {
			t.Errorf("%+v: plan\n%s\nwant %q and no scan of audit_log", tc.f, text, tc.search)
		}
	}
}
