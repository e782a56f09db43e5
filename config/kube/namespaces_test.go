package kube

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      labels,
		Annotations: map[string]string{"big": strings.Repeat("x", 1024)},
	}}
}

// gets counts the GET requests for namespaces the fake client has seen.
func gets(client interface{ Actions() []k8stesting.Action }) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "namespaces" {
			n++
		}
	}
	return n
}

func TestNamespacesFromTheCache(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(namespace("prod-api", map[string]string{"env": "prod"}))
	n := NewNamespaces(client, 0)
	n.Start(t.Context())
	if !cache.WaitForCacheSync(t.Context().Done(), n.HasSynced) {
		t.Fatal("the namespace cache never synced")
	}

	labels, err := n.Labels(t.Context(), "prod-api")
	if err != nil || labels["env"] != "prod" {
		t.Fatalf("Labels(prod-api) = %v, %v; want env=prod", labels, err)
	}
	if g := gets(fake); g != 0 {
		t.Errorf("a cached namespace cost %d GETs, want 0", g)
	}

	// A label change reaches the cache through the watch.
	updated := namespace("prod-api", map[string]string{"env": "staging"})
	if err := client.Update(t.Context(), kube.Namespaces, "", updated, updated); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		labels, err := n.Labels(t.Context(), "prod-api")
		if err == nil && labels["env"] == "staging" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache never saw the label change: %v, %v", labels, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The cache keeps only what bindings need.
	obj, ok, err := n.informer.GetStore().GetByKey("prod-api")
	if err != nil || !ok {
		t.Fatalf("prod-api not in the store: %v", err)
	}
	if ns := obj.(*corev1.Namespace); len(ns.Annotations) != 0 {
		t.Errorf("the cache kept annotations: %v", ns.Annotations)
	}
}

func TestNamespacesLiveGet(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(namespace("just-created", map[string]string{"team": "a"}))
	// Never started: every namespace is missing from the cache, as a
	// namespace created a moment ago is.
	n := NewNamespaces(client, 0)

	labels, err := n.Labels(t.Context(), "just-created")
	if err != nil || labels["team"] != "a" {
		t.Fatalf("Labels(just-created) = %v, %v; want team=a", labels, err)
	}
	if g := gets(fake); g != 1 {
		t.Errorf("%d GETs, want 1", g)
	}

	_, err = n.Labels(t.Context(), "missing")
	if err == nil || !apierrors.IsNotFound(err) {
		t.Fatalf("Labels(missing) error = %v, want a NotFound", err)
	}
	if want := `looking up namespace "missing": namespace not found`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Labels(missing) error = %q, want it to start %q", err, want)
	}
}

func TestNamespacesGetError(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New()
	fake.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "prod-api", errors.New("RBAC says no"))
	})
	n := NewNamespaces(client, 0)
	labels, err := n.Labels(t.Context(), "prod-api")
	if err == nil || !apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		t.Fatalf("Labels = %v, %v; want the Forbidden error passed on", labels, err)
	}
	if want := `looking up namespace "prod-api": `; !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "namespace not found") {
		t.Errorf("error %q, want it to start %q and not claim the namespace is missing", err, want)
	}
}
