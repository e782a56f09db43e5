package kube

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
	"github.com/shipgate/shipgate/workload"
)

func meta(name string, uid types.UID) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "shop", Name: name, UID: uid}
}

func TestOwnerExists(t *testing.T) {
	t.Parallel()
	client, _ := kubetest.New(
		&appsv1.ReplicaSet{ObjectMeta: meta("web-7d9c5", "uid-rs")},
		&appsv1.Deployment{ObjectMeta: meta("web", "uid-deploy")},
		&appsv1.StatefulSet{ObjectMeta: meta("db", "uid-sts")},
		&appsv1.DaemonSet{ObjectMeta: meta("node-exporter", "uid-ds")},
		&batchv1.Job{ObjectMeta: meta("report-1", "uid-job")},
		&batchv1.CronJob{ObjectMeta: meta("report", "uid-cj")},
		&corev1.ReplicationController{ObjectMeta: meta("legacy", "uid-rc")},
		// The same name in another namespace must not count.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "api", UID: "uid-other"}},
	)
	owners := NewOwners(client)
	tests := map[string]struct {
		kind, name string
		uid        types.UID
		want       bool
	}{
		"a ReplicaSet with its UID":                    {kind: "ReplicaSet", name: "web-7d9c5", uid: "uid-rs", want: true},
		"a Deployment with its UID":                    {kind: "Deployment", name: "web", uid: "uid-deploy", want: true},
		"a StatefulSet with its UID":                   {kind: "StatefulSet", name: "db", uid: "uid-sts", want: true},
		"a DaemonSet with its UID":                     {kind: "DaemonSet", name: "node-exporter", uid: "uid-ds", want: true},
		"a Job with its UID":                           {kind: "Job", name: "report-1", uid: "uid-job", want: true},
		"a CronJob with its UID":                       {kind: "CronJob", name: "report", uid: "uid-cj", want: true},
		"a ReplicationController with its UID":         {kind: "ReplicationController", name: "legacy", uid: "uid-rc", want: true},
		"a Deployment re-created under its name":       {kind: "Deployment", name: "web", uid: "uid-of-the-deleted-one"},
		"a ReplicaSet that does not exist":             {kind: "ReplicaSet", name: "web-0000", uid: "uid-rs"},
		"a name that exists only as another kind":      {kind: "StatefulSet", name: "web", uid: "uid-deploy"},
		"a name that exists only in another namespace": {kind: "Deployment", name: "api", uid: "uid-other"},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			ref := metav1.OwnerReference{Kind: tt.kind, Name: tt.name, UID: tt.uid}
			got, err := owners.OwnerExists(t.Context(), "shop", ref)
			if err != nil {
				t.Fatalf("OwnerExists: %v", err)
			}
			if got != tt.want {
				t.Errorf("OwnerExists(%s %s %s) = %v, want %v", tt.kind, tt.name, tt.uid, got, tt.want)
			}
		})
	}
}

func TestOwnerExistsErrors(t *testing.T) {
	t.Parallel()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "web-7d9c5", errors.New("no RBAC"))
	client, fake := kubetest.New()
	fake.PrependReactor("get", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden
	})
	owners := NewOwners(client)
	tests := map[string]struct {
		kind   string
		target error
		want   string
	}{
		"a refused GET is an error, not a missing owner": {
			kind: "ReplicaSet", target: forbidden, want: "getting ReplicaSet shop/web-7d9c5: ",
		},
		"a kind that passes on no decision": {
			kind: "Service", target: workload.ErrUnsupportedKind, want: "getting Service shop/web-7d9c5: owner kind Service: unsupported kind",
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			ref := metav1.OwnerReference{Kind: tt.kind, Name: "web-7d9c5", UID: "uid-rs"}
			got, err := owners.OwnerExists(t.Context(), "shop", ref)
			if err == nil || got {
				t.Fatalf("OwnerExists = %v, %v; want false and an error", got, err)
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %v does not wrap %v", err, tt.target)
			}
			if len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
				t.Errorf("error = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

// TestOwnersClassify runs Classify against a cluster: a ReplicaSet created
// by the deployment controller inherits while its Deployment exists, and is
// judged as a bare object once the Deployment is deleted and the lookup
// remembered has lapsed (ownerTTL).
func TestOwnersClassify(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(&appsv1.Deployment{ObjectMeta: meta("web", "uid-deploy")})
	controller := true
	rs := &workload.Object{Kind: "ReplicaSet", Namespace: "shop", Name: "web-7d9c5", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-deploy", Controller: &controller},
	}}
	req := workload.Request{Operation: "CREATE", Username: "system:serviceaccount:kube-system:deployment-controller"}
	owners := NewOwners(client)
	now := time.Now()
	owners.now = func() time.Time { return now }

	got, err := workload.Classify(t.Context(), req, rs, nil, owners, workload.DefaultControllers())
	if err != nil || got.Class != workload.Inherited {
		t.Fatalf("Classify = %v %q, %v; want inherited", got.Class, got.Reason, err)
	}
	if err := fake.Resource(kube.Deployments.GVR()).Namespace("shop").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(ownerTTL)
	got, err = workload.Classify(t.Context(), req, rs, nil, owners, workload.DefaultControllers())
	if err != nil || got.Class != workload.Rollout || got.Reason != "owner Deployment web not found: judged as a bare object" {
		t.Fatalf("Classify after delete = %v %q, %v; want a rollout judged as bare", got.Class, got.Reason, err)
	}
}

// TestOwnersFoundAreRemembered: a hundred lookups of one owner, forty of
// them at once, make one GET while it is remembered, and one more after
// ownerTTL; an owner not found is asked about every time.
func TestOwnersFoundAreRemembered(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(&appsv1.ReplicaSet{ObjectMeta: meta("web-7d9c5", "uid-rs")})
	var gets atomic.Int64
	fake.PrependReactor("get", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets.Add(1)
		return false, nil, nil
	})
	owners := NewOwners(client)
	var mu sync.Mutex
	now := time.Now()
	owners.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ref := metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-7d9c5", UID: "uid-rs"}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if ok, err := owners.OwnerExists(t.Context(), "shop", ref); !ok || err != nil {
				t.Errorf("OwnerExists = %v, %v; want true", ok, err)
			}
		})
	}
	wg.Wait()
	for range 60 {
		if ok, err := owners.OwnerExists(t.Context(), "shop", ref); !ok || err != nil {
			t.Fatalf("OwnerExists = %v, %v; want true", ok, err)
		}
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("100 lookups of one owner made %d GETs, want 1", n)
	}
	mu.Lock()
	now = now.Add(ownerTTL)
	mu.Unlock()
	if ok, err := owners.OwnerExists(t.Context(), "shop", ref); !ok || err != nil || gets.Load() != 2 {
		t.Errorf("after ownerTTL: %v, %v, %d GETs; want true after a second GET", ok, err, gets.Load())
	}
	other := metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-7d9c5", UID: "uid-other"}
	for range 3 {
		if ok, err := owners.OwnerExists(t.Context(), "shop", other); ok || err != nil {
			t.Fatalf("an owner with another uid: %v, %v; want false", ok, err)
		}
	}
	if n := gets.Load(); n != 5 {
		t.Errorf("three lookups of an owner not found made %d GETs in all (want 5): absence must not be remembered", n)
	}
}
