package main

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shipgate/shipgate/config"
)

// demoCluster is the demo's stand-in for the cluster's storage: which
// objects exist (so owners can be looked up) and namespace labels.
type demoCluster struct {
	mu      sync.Mutex
	objects map[string]types.UID // "Kind/namespace/name" → uid
	next    int
}

func newDemoCluster() *demoCluster {
	return &demoCluster{objects: map[string]types.UID{}}
}

// create stores an admitted object and returns the uid it was given.
func (c *demoCluster) create(kind, namespace, name string) types.UID {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	uid := types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", c.next))
	c.objects[kind+"/"+namespace+"/"+name] = uid
	return uid
}

// uid is the uid of a stored object, "" when it does not exist.
func (c *demoCluster) uid(kind, namespace, name string) types.UID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[kind+"/"+namespace+"/"+name]
}

// OwnerExists implements workload.OwnerLookup.
func (c *demoCluster) OwnerExists(_ context.Context, namespace string, ref metav1.OwnerReference) (bool, error) {
	uid := c.uid(ref.Kind, namespace, ref.Name)
	return uid != "" && uid == ref.UID, nil
}

func (c *demoCluster) namespaceLabels() config.StaticNamespaces {
	return config.StaticNamespaces{
		"prod-payments": {"env": "prod"},
		"dev-alice":     {"env": "dev"},
	}
}
