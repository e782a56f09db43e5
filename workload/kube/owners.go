package kube

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/workload"
)

// Owners implements workload.OwnerLookup with GETs against the API server.
// An owner found is remembered for ownerTTL, so a ReplicaSet's hundred Pods
// (each seen by /mutate and /validate) cost one GET, and concurrent lookups
// of one owner share it. Absence is never remembered: an owner created a
// moment ago is found on the next lookup.
type Owners struct {
	client *kube.Client
	now    func() time.Time
	found  *lru.Cache // ownerKey → expiry (time.Time)
	flight singleflight.Group
}

// ownerTTL is how long an owner found is taken to exist. An owner deleted
// within it is still found for its Pods, which only the owner kind's own
// controller can create as inherited (workload.Classify), and which are
// pinned to the digests admitted with the owner.
const ownerTTL = 10 * time.Second

// ownerMemory is how many owners found are remembered.
const ownerMemory = 10000

var _ workload.OwnerLookup = (*Owners)(nil)

// NewOwners returns an OwnerLookup that asks the cluster client talks to.
// Its service account needs get on replicasets, deployments, statefulsets,
// daemonsets (apps), jobs, cronjobs (batch) and replicationcontrollers.
func NewOwners(client *kube.Client) *Owners {
	return &Owners{client: client, now: time.Now, found: lru.New(ownerMemory)}
}

// OwnerExists reports whether the object ref names exists in namespace with
// ref's UID: an object deleted and re-created under the same name is a
// different owner. Not found is (false, nil); any other failure is an error,
// on which the caller fails closed. An owner kind that passes on no decision
// wraps workload.ErrUnsupportedKind.
func (o *Owners) OwnerExists(ctx context.Context, namespace string, ref metav1.OwnerReference) (bool, error) {
	key := namespace + "/" + ref.Kind + "/" + ref.Name + "/" + string(ref.UID)
	if exp, ok := o.found.Get(key); ok && o.now().Before(exp.(time.Time)) {
		return true, nil
	}
	v, err, _ := o.flight.Do(key, func() (any, error) {
		if exp, ok := o.found.Get(key); ok && o.now().Before(exp.(time.Time)) {
			return true, nil // found by a lookup that ended a moment ago
		}
		ok, err := o.exists(ctx, namespace, ref)
		if ok && err == nil {
			o.found.Add(key, o.now().Add(ownerTTL))
		}
		return ok, err
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

func (o *Owners) exists(ctx context.Context, namespace string, ref metav1.OwnerReference) (bool, error) {
	uid, err := o.uid(ctx, namespace, ref.Kind, ref.Name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("getting %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	return uid == ref.UID, nil
}

// ownerKinds are the resources of the owner kinds passed on to.
var ownerKinds = map[string]kube.Resource{
	"ReplicaSet":            kube.ReplicaSets,
	"Deployment":            kube.Deployments,
	"StatefulSet":           kube.StatefulSets,
	"DaemonSet":             kube.DaemonSets,
	"Job":                   kube.Jobs,
	"CronJob":               kube.CronJobs,
	"ReplicationController": kube.ReplicationControllers,
}

// uid gets the named object of kind and returns its UID. Only its
// metadata is decoded.
func (o *Owners) uid(ctx context.Context, namespace, kind, name string) (types.UID, error) {
	r, ok := ownerKinds[kind]
	if !ok {
		return "", fmt.Errorf("owner kind %s: %w", kind, workload.ErrUnsupportedKind)
	}
	var m metav1.PartialObjectMetadata
	if err := o.client.Get(ctx, r, namespace, name, &m); err != nil {
		return "", err
	}
	return m.UID, nil
}
