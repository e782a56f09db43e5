package audit

import (
	"fmt"
	"slices"
	"testing"
)

// A step's sorted rows make a list per key and block of listBlock seqs,
// each seq once, with the list's greatest seq as its last.
func TestListsGroupByKeyAndBlock(t *testing.T) {
	var lr lookupRows
	for _, seq := range []uint64{5, 1023, 1024, 1030, 4000} {
		r := row{seq: seq, rec: &Record{Namespace: "prod", Kind: "Deployment", Name: "api", User: User{Username: "ci"}},
			// One digest under two repositories: two image rows.
			images: []imageRow{{"sha256:a", "api", "registry.example.com/api"}, {"sha256:a", "mirror", "mirror.example.com/api"}}}
		if seq == 1030 {
			r.rec.User.Username = "alice"
		}
		lr.add(r)
	}
	lr.sort()
	ll := lr.lists()
	show := func(rows []listRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%v %d %s %d", r.key, r.last, r.seqs, r.n))
		}
		return out
	}
	for i, want := range [4][]string{
		{"[prod Deployment api] 1023 [5,1023] 2", "[prod Deployment api] 1030 [1024,1030] 2", "[prod Deployment api] 4000 [4000] 1"},
		{"[sha256:a] 1023 [5,1023] 2", "[sha256:a] 1030 [1024,1030] 2", "[sha256:a] 4000 [4000] 1"},
		{"[mirror.example.com/api] 1023 [5,1023] 2", "[mirror.example.com/api] 1030 [1024,1030] 2", "[mirror.example.com/api] 4000 [4000] 1",
			"[registry.example.com/api] 1023 [5,1023] 2", "[registry.example.com/api] 1030 [1024,1030] 2", "[registry.example.com/api] 4000 [4000] 1"},
		{"[alice] 1030 [1030] 1", "[ci] 1023 [5,1023] 2", "[ci] 1024 [1024] 1", "[ci] 4000 [4000] 1"},
	} {
		if got := show(ll[i]); !slices.Equal(got, want) {
			t.Errorf("lists of %s:\n%q\nwant\n%q", listTables[i].table, got, want)
		}
	}
	// A chunk takes lists until it holds n pairs.
	if c := ll.first(5); len(c[0]) != 3 || len(c[1]) != 0 {
		t.Errorf("first(5) took %d object lists and %d image lists, want 3 and 0", len(c[0]), len(c[1]))
	}
	if c := ll.first(6); len(c[0]) != 3 || len(c[1]) != 1 {
		t.Errorf("first(6) took %d object lists and %d image lists, want 3 and 1", len(c[0]), len(c[1]))
	}
}
