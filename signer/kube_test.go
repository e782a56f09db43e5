package signer

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/internal/kube/kubetest"
)

// TestPullSecretsReadThroughTheCluster: the pod's own pull secrets come
// before its service account's, one that does not exist is skipped as the
// kubelet skips it, and a read the cluster refuses fails the keychain.
func TestPullSecretsReadThroughTheCluster(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(
		&corev1.ServiceAccount{
			ObjectMeta:       metav1.ObjectMeta{Namespace: "team", Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-cred"}, {Name: "pod-cred"}},
		},
		new(dockerConfigJSONSecret("pod-cred", "r.example.com", "alice")),
		new(dockerConfigJSONSecret("sa-cred", "r.example.com", "bob", "q.example.com", "carol")),
	)
	p := NewPullSecrets(client, nil)
	kc, key, err := p.For(t.Context(), "team", "builder", []string{"missing", "pod-cred"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "team/builder/missing,pod-cred#") {
		t.Errorf("key %q", key)
	}
	for ref, want := range map[string]string{
		"r.example.com/team/api": "alice:alice-pw", // the pod's secret first
		"q.example.com/team/api": "carol:carol-pw", // then the service account's
		"x.example.com/team/api": "anonymous",
	} {
		if got := resolvePull(t, kc, ref); got != want {
			t.Errorf("%s: user %q, want %q", ref, got, want)
		}
	}
	gets := 0
	for _, a := range fake.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	// The service account, then missing, pod-cred and sa-cred, each once.
	if gets != 4 {
		t.Errorf("%d GETs, want 4", gets)
	}
	if _, _, err := p.For(t.Context(), "team", "builder", []string{"missing", "pod-cred"}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Actions()); n != 4 {
		t.Errorf("a second call within the minute made %d more calls", n-4)
	}

	// A service account that does not exist has no secrets to add.
	if kc, _, err := p.For(t.Context(), "team", "nobody", []string{"pod-cred"}); err != nil || resolvePull(t, kc, "q.example.com/a") != "anonymous" {
		t.Errorf("For(nobody) = %v; want only the pod's secret", err)
	}

	fake.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "pod-cred", errors.New("RBAC says no"))
	})
	_, _, err = p.For(t.Context(), "team", "other", []string{"pod-cred"})
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "reading the pull secrets of service account team/other") {
		t.Errorf("a refused read gave %v, want a Forbidden error that names the service account", err)
	}
}
