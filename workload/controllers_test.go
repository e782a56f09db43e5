package workload

import "testing"

func TestDefaultControllers(t *testing.T) {
	t.Parallel()
	ctrls := DefaultControllers()
	want := map[string]string{
		"Deployment":            "deployment-controller",
		"ReplicaSet":            "replicaset-controller",
		"StatefulSet":           "statefulset-controller",
		"DaemonSet":             "daemon-set-controller",
		"Job":                   "job-controller",
		"CronJob":               "cronjob-controller",
		"ReplicationController": "replication-controller",
	}
	if len(ctrls) != len(want) {
		t.Errorf("DefaultControllers has %d kinds, want %d", len(ctrls), len(want))
	}
	for kind, sa := range want {
		if !ctrls.allows(kind, "system:serviceaccount:kube-system:"+sa) || !ctrls.allows(kind, "system:kube-controller-manager") {
			t.Errorf("DefaultControllers()[%s] = %q, want %s and the controller manager", kind, ctrls[kind], sa)
		}
	}
	if ctrls.allows("ReplicaSet", "system:serviceaccount:kube-system:deployment-controller") {
		t.Error("the deployment controller may create what inherits from a ReplicaSet")
	}
}
