package kube

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReloadNeverFailsAnEvaluation: admissions keep being decided while
// ConfigMaps come, break, get fixed and go. None fails, none sees a
// half-built policy: team-a's deny is always its one rule, team-new has
// either no own policy or its whole rule. Run it with -race.
func TestReloadNeverFailsAnEvaluation(t *testing.T) {
	t.Parallel()
	l, e := newTestLoader(t, baselineDir)
	l.setConfigMap(configMap("team-a", "limits", map[string]string{"limits.rego": teamA}))
	reload(t, l)

	const newRule = `package shipgate.namespaces["team-new"]

deny contains "team-new: one replica" if input.request.object.spec.replicas > 1
deny contains "team-new: a second rule" if input.request.object.spec.replicas > 1
`
	var stop atomic.Bool
	var wg sync.WaitGroup
	var evaluations atomic.Int64
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				a, err := e.Evaluate(t.Context(), "team-a", []string{"baseline"}, deployment("team-a", labelled, 5))
				if err != nil || len(a.Deny) != 1 || a.Deny[0].Msg != "team-a: at most 3 replicas" {
					errs <- fmt.Errorf("team-a: %+v, %v", a, err)
					return
				}
				n, err := e.Evaluate(t.Context(), "team-new", []string{"baseline"}, deployment("team-new", labelled, 5))
				if err != nil || (len(n.Deny) != 0 && len(n.Deny) != 2) {
					errs <- fmt.Errorf("team-new: %+v, %v", n, err)
					return
				}
				evaluations.Add(1)
			}
		})
	}
	for i := range 20 {
		// A broken ConfigMap beside team-a's, and as team-new's first.
		l.setConfigMap(configMap("team-a", "broken", map[string]string{"b.rego": fmt.Sprintf("package shipgate.namespaces[\"team-a\"]\n\ndeny contains x if { x := %d }}\n", i)}))
		l.setConfigMap(configMap("team-new", "rules", map[string]string{"r.rego": fmt.Sprintf("package shipgate.namespaces[\"team-new\"]\n\n# %d\ndeny contains x if {\n", i)}))
		reload(t, l)
		// team-new fixed; then gone again.
		l.setConfigMap(configMap("team-new", "rules", map[string]string{"r.rego": newRule}))
		reload(t, l)
		l.deleteConfigMap("team-new/rules")
		l.deleteConfigMap("team-a/broken")
		reload(t, l)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if evaluations.Load() == 0 {
		t.Error("no evaluation ran during the reloads")
	}
	if got := denies(t, e, "team-a", labelled, 5); !slices.Equal(got, []string{"shipgate.namespaces.team-a: team-a: at most 3 replicas"}) {
		t.Errorf("team-a deny = %q", got)
	}
}
