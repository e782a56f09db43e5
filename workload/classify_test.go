package workload

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// presentOwners is an OwnerLookup over a fixed set of owner UIDs.
type presentOwners map[types.UID]bool

func (p presentOwners) OwnerExists(_ context.Context, _ string, ref metav1.OwnerReference) (bool, error) {
	return p[ref.UID], nil
}

// failingOwners is an OwnerLookup whose cluster cannot be reached.
type failingOwners struct{ err error }

func (f failingOwners) OwnerExists(context.Context, string, metav1.OwnerReference) (bool, error) {
	return false, f.err
}

const (
	deploymentUID = "0b7e3f6c-5d1a-4f7e-9c51-3e2d8a4b6f10"
	replicaSetUID = "6a1f0c2e-8b4d-4a59-bb7e-2f9d1c3e5a77"
	cronJobUID    = "5d7f9b1c-3e5a-4c7e-b9d1-6f8a0c2e4b6d"

	deploymentController = "system:serviceaccount:kube-system:deployment-controller"
	replicaSetController = "system:serviceaccount:kube-system:replicaset-controller"
	cronJobController    = "system:serviceaccount:kube-system:cronjob-controller"
)

var errUnreachable = errors.New("connection refused")

func TestClassify(t *testing.T) {
	t.Parallel()
	cluster := presentOwners{deploymentUID: true, replicaSetUID: true, cronJobUID: true}
	deployment := testdata(t, "deployment-defaulted.json")
	replicaSet := testdata(t, "replicaset.json")
	pod := testdata(t, "pod-owned.json")
	ephemeral := testdata(t, "pod-ephemeral.json")
	withoutEphemeral := withoutEphemeralContainers(decodeBytes(t, "Pod", ephemeral))

	tests := map[string]struct {
		req      Request
		kind     string
		obj, old []byte  // old is nil on CREATE
		oldObj   *Object // instead of old, for objects built in Go
		owners   OwnerLookup
		want     Class
		reason   string
		owner    string // name of Classification.Owner
		wantErr  error
	}{
		"a new Deployment is a rollout": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "Deployment", obj: deployment,
			owners: cluster, want: Rollout, reason: "new Deployment",
		},
		"deleting is ignored": {
			req: Request{Operation: "DELETE", Username: "alice"}, kind: "Deployment", old: deployment,
			want: Ignore, reason: "DELETE is not a rollout",
		},
		"CONNECT is ignored": {
			req: Request{Operation: "CONNECT", SubResource: "exec", Username: "alice"}, kind: "Pod", obj: pod,
			want: Ignore, reason: "CONNECT is not a rollout",
		},
		"a scale (replicas only) is ignored": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment",
			obj: edit(t, deployment, `"replicas": 3,`, `"replicas": 5,`), old: deployment,
			want: Ignore, reason: "template and images unchanged",
		},
		"a label change outside the template is ignored": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment",
			obj: edit(t, deployment, `"app.kubernetes.io/part-of": "shop"`, `"app.kubernetes.io/part-of": "store"`), old: deployment,
			want: Ignore, reason: "template and images unchanged",
		},
		"a template annotation change is a rollout": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment",
			obj: edit(t, deployment, `"prometheus.io/port": "9102"`, `"prometheus.io/port": "9103"`), old: deployment,
			want: Rollout, reason: "pod template or images changed",
		},
		"an env var change is a rollout": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment",
			obj: edit(t, deployment, `"value": "info"`, `"value": "debug"`), old: deployment,
			want: Rollout, reason: "pod template or images changed",
		},
		"an image change is a rollout": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment",
			obj: edit(t, deployment, "shop/web:2.3.1", "shop/web:2.4.0"), old: deployment,
			want: Rollout, reason: "pod template or images changed",
		},
		"an UPDATE whose oldObject is missing is judged in full": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Deployment", obj: deployment,
			want: Rollout, reason: "pod template or images changed",
		},
		"a status update is ignored": {
			req: Request{Operation: "UPDATE", SubResource: "status", Username: deploymentController}, kind: "Deployment",
			obj: edit(t, deployment, "shop/web:2.3.1", "shop/web:2.4.0"), old: deployment,
			want: Ignore, reason: "status subresource",
		},
		"a scale subresource is ignored": {
			req: Request{Operation: "UPDATE", SubResource: "scale", Username: "hpa"}, kind: "Deployment",
			obj: deployment, old: deployment, want: Ignore, reason: "scale subresource",
		},
		"a binding is ignored": {
			req: Request{Operation: "CREATE", SubResource: "binding", Username: "system:kube-scheduler"}, kind: "Pod",
			obj: pod, want: Ignore, reason: "binding subresource",
		},
		"a ReplicaSet from the deployment controller whose Deployment exists inherits": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet", obj: replicaSet,
			owners: cluster, want: Inherited, reason: "inherits from Deployment web", owner: "web",
		},
		"the controller manager's own user may create it too": {
			req: Request{Operation: "CREATE", Username: "system:kube-controller-manager"}, kind: "ReplicaSet", obj: replicaSet,
			owners: cluster, want: Inherited, reason: "inherits from Deployment web", owner: "web",
		},
		"the same ReplicaSet created by a user is judged as a bare object": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "ReplicaSet", obj: replicaSet,
			owners: cluster, want: Rollout, reason: "created by alice, not Deployment's controller: judged as a bare object",
		},
		"another controller's user does not pass either": {
			req: Request{Operation: "CREATE", Username: replicaSetController}, kind: "ReplicaSet", obj: replicaSet,
			owners: cluster, want: Rollout, reason: "created by " + replicaSetController + ", not Deployment's controller: judged as a bare object",
		},
		"a ReplicaSet whose Deployment is gone is judged as a bare object": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet", obj: replicaSet,
			owners: presentOwners{}, want: Rollout, reason: "owner Deployment web not found: judged as a bare object",
		},
		"without a cluster nothing inherits": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet", obj: replicaSet,
			want: Rollout, reason: "no cluster to look up owner Deployment web: judged as a bare object",
		},
		"a failed owner lookup is an error": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet", obj: replicaSet,
			owners: failingOwners{errUnreachable}, wantErr: errUnreachable,
		},
		"a ReplicaSet owned but not controlled is bare": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet",
			obj: edit(t, replicaSet, `"controller": true`, `"controller": false`), owners: cluster,
			want: Rollout, reason: "no controller owner: judged as a bare object",
		},
		"an owner of another API group passes nothing on": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "ReplicaSet",
			obj: edit(t, replicaSet, `"apiVersion": "apps/v1",
        "kind": "Deployment"`, `"apiVersion": "example.com/v1",
        "kind": "Deployment"`), owners: cluster,
			want: Rollout, reason: "owner Deployment web (example.com/v1) does not create a ReplicaSet: judged as a bare object",
		},
		"a Pod from the ReplicaSet controller inherits from its ReplicaSet": {
			req: Request{Operation: "CREATE", Username: replicaSetController}, kind: "Pod", obj: pod,
			owners: cluster, want: Inherited, reason: "inherits from ReplicaSet web-7d9c5c6b8f", owner: "web-7d9c5c6b8f",
		},
		"a Pod claiming a Deployment as its controller is bare": {
			req: Request{Operation: "CREATE", Username: deploymentController}, kind: "Pod",
			obj: edit(t, pod, `"kind": "ReplicaSet"`, `"kind": "Deployment"`), owners: cluster,
			want: Rollout, reason: "owner Deployment web-7d9c5c6b8f (apps/v1) does not create a Pod: judged as a bare object",
		},
		"a Pod UPDATE that changes an image is judged": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Pod",
			obj: edit(t, pod, "shop/web:2.3.1", "shop/web:2.4.0"), old: pod, owners: cluster,
			want: Rollout, reason: "changed by alice, not ReplicaSet's controller: judged as a bare object",
		},
		"a Pod label change is ignored": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Pod",
			obj: edit(t, pod, `"app.kubernetes.io/part-of": "shop"`, `"app.kubernetes.io/part-of": "store"`), old: pod, owners: cluster,
			want: Ignore, reason: "template and images unchanged",
		},
		"a Pod spec change that keeps the images is judged": {
			req: Request{Operation: "UPDATE", Username: "alice"}, kind: "Pod",
			obj: edit(t, pod, `"priority": 0,`, `"priority": 0, "activeDeadlineSeconds": 60,`), old: pod, owners: cluster,
			want: Rollout, reason: "changed by alice, not ReplicaSet's controller: judged as a bare object",
		},
		"a bare Pod is a rollout": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "Pod", obj: testdata(t, "pod-bare-defaulted.json"),
			owners: cluster, want: Rollout, reason: "no controller owner: judged as a bare object",
		},
		"a Job from the cronjob controller inherits from its CronJob": {
			req: Request{Operation: "CREATE", Username: cronJobController}, kind: "Job", obj: testdata(t, "job.json"),
			owners: cluster, want: Inherited, reason: "inherits from CronJob nightly-report", owner: "nightly-report",
		},
		"a new CronJob is a rollout": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "CronJob", obj: testdata(t, "cronjob.json"),
			owners: cluster, want: Rollout, reason: "new CronJob",
		},
		"a StatefulSet with a controller owner is still a rollout": {
			req: Request{Operation: "CREATE", Username: cronJobController}, kind: "StatefulSet",
			obj:    edit(t, testdata(t, "statefulset.json"), `"name": "db",`, `"name": "db", "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly-report", "uid": "`+cronJobUID+`", "controller": true}],`),
			owners: cluster, want: Rollout, reason: "new StatefulSet",
		},
		"a new DaemonSet is a rollout": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "DaemonSet", obj: testdata(t, "daemonset.json"),
			want: Rollout, reason: "new DaemonSet",
		},
		"a new ReplicationController is a rollout": {
			req: Request{Operation: "CREATE", Username: "alice"}, kind: "ReplicationController", obj: testdata(t, "replicationcontroller.json"),
			want: Rollout, reason: "new ReplicationController",
		},
		"adding an ephemeral container is a rollout": {
			req: Request{Operation: "UPDATE", SubResource: "ephemeralcontainers", Username: "alice"}, kind: "Pod",
			obj: ephemeral, oldObj: withoutEphemeral, owners: cluster,
			want: Rollout, reason: "ephemeral containers added or changed",
		},
		"changing an ephemeral container's image is a rollout": {
			req: Request{Operation: "UPDATE", SubResource: "ephemeralcontainers", Username: "alice"}, kind: "Pod",
			obj: edit(t, ephemeral, `"busybox:1.36"`, `"busybox:1.37"`), old: ephemeral, owners: cluster,
			want: Rollout, reason: "ephemeral containers added or changed",
		},
		"an ephemeralcontainers update that changes none is ignored": {
			req: Request{Operation: "UPDATE", SubResource: "ephemeralcontainers", Username: "alice"}, kind: "Pod",
			obj: ephemeral, old: ephemeral, owners: cluster,
			want: Ignore, reason: "ephemeral containers unchanged",
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			var obj, old *Object
			if tt.obj != nil {
				obj = decodeBytes(t, tt.kind, tt.obj)
			}
			if tt.old != nil {
				old = decodeBytes(t, tt.kind, tt.old)
			}
			if tt.oldObj != nil {
				old = tt.oldObj
			}
			got, err := Classify(t.Context(), tt.req, obj, old, tt.owners, DefaultControllers())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Classify error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if got.Class != tt.want || got.Reason != tt.reason {
				t.Errorf("Classify = %s %q, want %s %q", got.Class, got.Reason, tt.want, tt.reason)
			}
			var owner string
			if got.Owner != nil {
				owner = got.Owner.Name
			}
			if owner != tt.owner {
				t.Errorf("Owner = %q, want %q", owner, tt.owner)
			}
		})
	}
}

func TestClassifyNeedsAnObject(t *testing.T) {
	t.Parallel()
	_, err := Classify(t.Context(), Request{Operation: "CREATE"}, nil, nil, nil, DefaultControllers())
	if err == nil {
		t.Fatal("Classify of a CREATE without an object succeeded")
	}
}

func TestClassString(t *testing.T) {
	t.Parallel()
	tests := map[Class]string{Ignore: "ignore", Rollout: "rollout", Inherited: "inherited", Class(7): "Class(7)"}
	for c, want := range tests {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

// withoutEphemeralContainers returns o as it was before its ephemeral
// containers were added.
func withoutEphemeralContainers(o *Object) *Object {
	old := *o
	tmpl, err := o.PodTemplate()
	if err != nil {
		panic(err)
	}
	old.template = tmpl.DeepCopy()
	old.template.Spec.EphemeralContainers = nil
	old.templateJSON = nil
	old.Containers = ofType(o.Containers, Regular)
	return &old
}

// TestClassifyAgainstATemplateOnlyOld: the webhook reads an UPDATE's
// oldObject with DecodeTemplate; the raw templates then decide.
func TestClassifyAgainstATemplateOnlyOld(t *testing.T) {
	t.Parallel()
	raw := testdata(t, "deployment.json")
	scaled := edit(t, raw, `"replicas": 3`, `"replicas": 7`)
	moved := edit(t, raw, "shop/web:2.3.1", "shop/web:2.4.0")
	req := Request{Operation: "UPDATE", Username: "alice"}
	for name, tc := range map[string]struct {
		obj  []byte
		want Class
	}{
		"a scale is ignored":             {scaled, Ignore},
		"a new image is judged":          {moved, Rollout},
		"an identical update is ignored": {raw, Ignore},
	} {
		old, err := DecodeTemplate("Deployment", raw)
		if err != nil {
			t.Fatal(err)
		}
		obj := decodeBytes(t, "Deployment", tc.obj)
		got, err := Classify(t.Context(), req, obj, old, nil, DefaultControllers())
		if err != nil || got.Class != tc.want {
			t.Errorf("%s: %v (%s), %v; want %v", name, got.Class, got.Reason, err, tc.want)
		}
	}
}
