// Package kube looks up namespace labels in a cluster for config's namespace
// bindings.
package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/kube"
)

// Namespaces answers namespace labels from a shared informer's cache, and
// with a GET for a namespace the cache has not seen yet (one created a
// moment ago, or any before the cache has synced).
type Namespaces struct {
	client   *kube.Client
	informer cache.SharedIndexInformer
}

var _ config.NamespaceLabels = (*Namespaces)(nil)

// NewNamespaces builds the informer on namespaces; resync is the informer's
// resync period (0: none; a namespace watch needs none to stay correct).
// Call Start to fill the cache.
func NewNamespaces(client *kube.Client, resync time.Duration) *Namespaces {
	lw := client.ListWatch(kube.Namespaces, "", nil,
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.NamespaceList{} })
	inf := cache.NewSharedIndexInformer(lw, &corev1.Namespace{}, resync, cache.Indexers{})
	// The cache keeps only what bindings match on. SetTransform fails only
	// once the informer has started, and it has not.
	_ = inf.SetTransform(slimNamespace)
	return &Namespaces{client: client, informer: inf}
}

// Start runs the informer until ctx ends. It does not wait for the cache;
// see HasSynced.
func (n *Namespaces) Start(ctx context.Context) { go n.informer.RunWithContext(ctx) }

// HasSynced reports whether the cache holds the first full list, for
// readiness.
func (n *Namespaces) HasSynced() bool { return n.informer.HasSynced() }

// Labels returns a namespace's labels, read only. A namespace missing from
// the cache is fetched from the API server; one the server does not have
// either gives an error that says so (apierrors.IsNotFound holds for it).
func (n *Namespaces) Labels(ctx context.Context, namespace string) (map[string]string, error) {
	obj, found, err := n.informer.GetStore().GetByKey(namespace)
	if err != nil {
		return nil, fmt.Errorf("looking up namespace %q in the cache: %w", namespace, err)
	}
	if ns, ok := obj.(*corev1.Namespace); found && ok {
		return ns.Labels, nil
	}
	var ns corev1.Namespace
	err = n.client.Get(ctx, kube.Namespaces, "", namespace, &ns)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("looking up namespace %q: namespace not found: %w", namespace, err)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up namespace %q: %w", namespace, err)
	}
	return ns.Labels, nil
}

// slimNamespace keeps a namespace's name, labels and resourceVersion and
// drops the rest (annotations, managedFields, status), so the cache of a
// cluster with thousands of namespaces stays small.
func slimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:            ns.Name,
		UID:             ns.UID,
		Labels:          ns.Labels,
		ResourceVersion: ns.ResourceVersion,
	}}, nil
}
