// Package kube is shipgate's client of the Kubernetes API: typed objects of
// the few kinds shipgate reads and writes, carried over client-go's dynamic
// client.
//
// It stands in for client-go's generated clientset, which registers every
// API group Kubernetes has and brings their code, types and informers into
// the binary: about 35 MB of it, some 23 MiB of it resident in every
// replica, for the six groups shipgate uses. Objects are converted between
// their typed and unstructured forms here, which costs a little CPU on the
// rare calls shipgate makes (watch events, a namespace, a Secret, a
// review), never on an admission's hot path.
package kube

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Resource names a kind of object: its API group, version, resource (the
// plural in URLs) and kind, and whether it lives in a namespace.
type Resource struct {
	Group, Version, Resource, Kind string
	Namespaced                     bool
}

// The resources shipgate reads or writes.
var (
	Namespaces             = Resource{"", "v1", "namespaces", "Namespace", false}
	Secrets                = Resource{"", "v1", "secrets", "Secret", true}
	ServiceAccounts        = Resource{"", "v1", "serviceaccounts", "ServiceAccount", true}
	ConfigMaps             = Resource{"", "v1", "configmaps", "ConfigMap", true}
	ReplicationControllers = Resource{"", "v1", "replicationcontrollers", "ReplicationController", true}
	ReplicaSets            = Resource{"apps", "v1", "replicasets", "ReplicaSet", true}
	Deployments            = Resource{"apps", "v1", "deployments", "Deployment", true}
	StatefulSets           = Resource{"apps", "v1", "statefulsets", "StatefulSet", true}
	DaemonSets             = Resource{"apps", "v1", "daemonsets", "DaemonSet", true}
	Jobs                   = Resource{"batch", "v1", "jobs", "Job", true}
	CronJobs               = Resource{"batch", "v1", "cronjobs", "CronJob", true}
	TokenReviews           = Resource{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false}
	SubjectAccessReviews   = Resource{"authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false}
	Leases                 = Resource{"coordination.k8s.io", "v1", "leases", "Lease", true}
)

// GVR is the resource's group, version and resource.
func (r Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

func (r Resource) apiVersion() string {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}.String()
}

// Client reads and writes typed objects through a dynamic client.
type Client struct {
	dyn dynamic.Interface
}

// New returns a Client for the cluster cfg names.
func New(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{dyn: dyn}, nil
}

// NewFor returns a Client over dyn (client-go's dynamic fake, in tests).
func NewFor(dyn dynamic.Interface) *Client { return &Client{dyn: dyn} }

func (c *Client) in(r Resource, namespace string) dynamic.ResourceInterface {
	ri := c.dyn.Resource(r.GVR())
	if r.Namespaced {
		return ri.Namespace(namespace)
	}
	return ri
}

// Get reads the named object into into (a pointer to the resource's typed
// object). A missing object gives an error apierrors.IsNotFound holds for.
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string, into runtime.Object) error {
	u, err := c.in(r, namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return fromUnstructured(u, into)
}

// List reads the objects opts selects into into (a pointer to the
// resource's typed list).
func (c *Client) List(ctx context.Context, r Resource, namespace string, opts metav1.ListOptions, into runtime.Object) error {
	l, err := c.in(r, namespace).List(ctx, opts)
	if err != nil {
		return err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.UnstructuredContent(), into); err != nil {
		return fmt.Errorf("reading a list of %s: %w", r.Resource, err)
	}
	return nil
}

// Watch watches the objects opts selects; each event carries a typed
// object made by newObj (error events carry what the server sent).
func (c *Client) Watch(ctx context.Context, r Resource, namespace string, opts metav1.ListOptions, newObj func() runtime.Object) (watch.Interface, error) {
	w, err := c.in(r, namespace).Watch(ctx, opts)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		u, ok := e.Object.(*unstructured.Unstructured)
		if !ok || e.Type == watch.Error {
			return e, true
		}
		obj := newObj()
		if err := fromUnstructured(u, obj); err != nil {
			// The reflector turns an error event into a relist.
			return watch.Event{Type: watch.Error, Object: &metav1.Status{
				Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
				Message: err.Error(),
			}}, true
		}
		e.Object = obj
		return e, true
	}), nil
}

// Create creates obj and reads what the server returned into into (which
// may be obj). Objects that are never stored (reviews) are created too.
func (c *Client) Create(ctx context.Context, r Resource, namespace string, obj, into runtime.Object) error {
	u, err := c.toUnstructured(r, obj)
	if err != nil {
		return err
	}
	out, err := c.in(r, namespace).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	return fromUnstructured(out, into)
}

// Update replaces obj (its name and resourceVersion as it carries them)
// and reads what the server returned into into. A stale resourceVersion
// gives an error apierrors.IsConflict holds for.
func (c *Client) Update(ctx context.Context, r Resource, namespace string, obj, into runtime.Object) error {
	u, err := c.toUnstructured(r, obj)
	if err != nil {
		return err
	}
	out, err := c.in(r, namespace).Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	return fromUnstructured(out, into)
}

// Patch patches the named object with data, a patch of type pt.
func (c *Client) Patch(ctx context.Context, r Resource, namespace, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) error {
	_, err := c.in(r, namespace).Patch(ctx, name, pt, data, opts)
	return err
}

// ListWatch is what an informer on r needs: typed objects from newObj
// and typed lists from newList, each list and watch shaped by tweak (nil:
// none).
func (c *Client) ListWatch(r Resource, namespace string, tweak func(*metav1.ListOptions), newObj, newList func() runtime.Object) cache.ListerWatcher {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			if tweak != nil {
				tweak(&opts)
			}
			l := newList()
			return l, c.List(ctx, r, namespace, opts, l)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&opts)
			}
			return c.Watch(ctx, r, namespace, opts, newObj)
		},
	}
	// A fake client that cannot stream lists says so, and the informer
	// then lists; the API server can.
	return cache.ToListWatcherWithWatchListSemantics(lw, c.dyn)
}

func (c *Client) toUnstructured(r Resource, obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding a %s: %w", r.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(r.apiVersion())
	u.SetKind(r.Kind)
	return u, nil
}

func fromUnstructured(u *unstructured.Unstructured, into runtime.Object) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), into); err != nil {
		return fmt.Errorf("reading a %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}
