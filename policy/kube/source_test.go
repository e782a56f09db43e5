package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
	"github.com/shipgate/shipgate/policy"
)

// TestSourceTwoReplicas runs two Sources, two replicas of shipgate, on one
// client-go fake (leader election and the status patch are the
// API server's business; the e2e suite runs them against a real one). Both
// load every ConfigMap; one holds the Lease and writes each status once,
// and once more per change.
func TestSourceTwoReplicas(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(
		configMap("team-a", "limits", map[string]string{"limits.rego": teamA}),
		configMap(clusterNS, "extra", map[string]string{"extra.rego": "package shipgate.extra\n\nwarn contains \"w\"\n"}),
	)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var engines []*policy.Engine
	var sources []*Source
	for _, id := range []string{"replica-a", "replica-b"} {
		e, err := policy.New(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := New(client, e, WithNamespace(clusterNS), WithIdentity(id), WithDebounce(10*time.Millisecond),
			WithLeaseTiming(2*time.Second, time.Second, 100*time.Millisecond),
			WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		engines, sources = append(engines, e), append(sources, s)
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}

	annotation := func(ns, name string) string {
		var cm corev1.ConfigMap
		if err := client.Get(ctx, kube.ConfigMaps, ns, name, &cm); err != nil {
			return err.Error()
		}
		return cm.Annotations[AnnotationStatus]
	}
	waitFor(t, "both statuses written", func() error {
		for _, key := range [][2]string{{"team-a", "limits"}, {clusterNS, "extra"}} {
			if a := annotation(key[0], key[1]); !strings.HasPrefix(a, "loaded: ") {
				return fmt.Errorf("%s/%s: %q", key[0], key[1], a)
			}
		}
		return nil
	})
	waitFor(t, "both replicas loading team-a's policy", func() error {
		for i, e := range engines {
			if !sources[i].HasSynced() || !e.Applies("team-a", nil) {
				return fmt.Errorf("replica %d has not loaded it", i)
			}
		}
		return nil
	})
	quiet := func() { time.Sleep(500 * time.Millisecond) }
	quiet()
	if n := patches(fake); n != 2 {
		t.Errorf("%d status patches for 2 ConfigMaps, want 2", n)
	}

	cm := configMap("team-a", "limits", map[string]string{"limits.rego": strings.Replace(teamA, "> 3", "> 4", 1)})
	if err := client.Update(ctx, kube.ConfigMaps, "team-a", cm, cm); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edit in force on both replicas", func() error {
		for _, e := range engines {
			if res, err := e.Evaluate(ctx, "team-a", nil, deployment("team-a", labelled, 4)); err != nil || len(res.Deny) != 0 {
				return fmt.Errorf("deny %+v, %v", res.Deny, err)
			}
		}
		if a := annotation("team-a", "limits"); !strings.HasPrefix(a, "loaded: ") {
			return fmt.Errorf("status %q", a)
		}
		return nil
	})
	quiet()
	if n := patches(fake); n != 3 {
		t.Errorf("%d status patches after one edit, want 3", n)
	}
	st, ok := sources[0].Status("team-a", "limits")
	if !ok || st.String() != annotation("team-a", "limits") {
		t.Errorf("replica a's status %q, the annotation %q", st, annotation("team-a", "limits"))
	}
}

// patches counts the PATCH requests made on ConfigMaps.
func patches(client interface{ Actions() []k8stesting.Action }) int {
	n := 0
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && p.GetResource().Resource == "configmaps" {
			n++
		}
	}
	return n
}

// waitFor polls check until it passes, for up to 10s.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
