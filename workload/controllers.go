package workload

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Controllers maps an owner kind ("ReplicaSet") to the usernames allowed to
// create the objects that inherit from it: the controller that manages that
// kind. A request from anyone else is judged like a bare object.
type Controllers map[string][]string

// controllerManager is kube-controller-manager's own user, which every
// controller runs as when --use-service-account-credentials is off.
const controllerManager = "system:kube-controller-manager"

// DefaultControllers names the kube-controller-manager controllers, each by
// its service account (--use-service-account-credentials, the kubeadm
// default) and by the controller manager's own user.
func DefaultControllers() Controllers {
	sa := func(name string) []string {
		return []string{"system:serviceaccount:kube-system:" + name, controllerManager}
	}
	return Controllers{
		"Deployment":            sa("deployment-controller"),
		"ReplicaSet":            sa("replicaset-controller"),
		"StatefulSet":           sa("statefulset-controller"),
		"DaemonSet":             sa("daemon-set-controller"),
		"Job":                   sa("job-controller"),
		"CronJob":               sa("cronjob-controller"),
		"ReplicationController": sa("replication-controller"),
	}
}

// allows reports whether username may create objects inheriting from an
// owner of ownerKind.
func (c Controllers) allows(ownerKind, username string) bool {
	return slices.Contains(c[ownerKind], username)
}

// inheritsFrom lists, per kind, the controller kinds it can inherit from and the
// API group each owner kind lives in. Deployments, StatefulSets, DaemonSets,
// CronJobs and ReplicationControllers inherit from nothing: when their
// template or images change they are rollouts.
var inheritsFrom = map[string]map[string]string{
	"ReplicaSet": {"Deployment": "apps"},
	"Job":        {"CronJob": "batch"},
	"Pod": {
		"ReplicaSet":            "apps",
		"StatefulSet":           "apps",
		"DaemonSet":             "apps",
		"Job":                   "batch",
		"ReplicationController": "",
	},
}

// canInheritFrom reports whether an object of kind may inherit from the owner
// ref names: the owner kind is one that creates kind, in its own API group
// (a custom resource that happens to be called "ReplicaSet" is not).
func canInheritFrom(kind string, ref *metav1.OwnerReference) bool {
	group, ok := inheritsFrom[kind][ref.Kind]
	if !ok {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == group
}
