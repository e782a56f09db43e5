package signer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/internal/kube/kubetest"
)

func dockerSecret(name string, auths map[string]string) *corev1.Secret {
	cfg := map[string]map[string]map[string]string{"auths": {}}
	for registry, user := range auths {
		cfg["auths"][registry] = map[string]string{"username": user, "password": user + "-pw"}
	}
	b, _ := json.Marshal(cfg)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: b},
	}
}

func userFor(t *testing.T, kc authn.Keychain, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(r.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Username
}

// TestPullSecretsReadThroughTheCluster: the pod's own pull secrets come
// before its service account's, one that does not exist is skipped as the
// kubelet skips it, and a read the cluster refuses fails the keychain.
func TestPullSecretsReadThroughTheCluster(t *testing.T) {
	t.Parallel()
	client, fake := kubetest.New(
		&corev1.ServiceAccount{
			ObjectMeta:       metav1.ObjectMeta{Namespace: "shop", Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-cred"}, {Name: "pod-cred"}},
		},
		dockerSecret("pod-cred", map[string]string{"r.example.com": "alice"}),
		dockerSecret("sa-cred", map[string]string{"r.example.com": "bob", "q.example.com": "carol"}),
	)
	p := NewPullSecrets(client, nil)
	kc, key, err := p.For(t.Context(), "shop", "builder", []string{"missing", "pod-cred"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "shop/builder/missing,pod-cred#") {
		t.Errorf("key %q", key)
	}
	for ref, want := range map[string]string{
		"r.example.com/shop/api:1": "alice", // the pod's secret first
		"q.example.com/shop/api:1": "carol", // then the service account's
		"x.example.com/shop/api:1": "",      // anonymous
	} {
		if got := userFor(t, kc, ref); got != want {
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
	if _, _, err := p.For(t.Context(), "shop", "builder", []string{"missing", "pod-cred"}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Actions()); n != 4 {
		t.Errorf("a second call within the minute made %d more calls", n-4)
	}

	// A service account that does not exist has no secrets to add.
	if kc, _, err := p.For(t.Context(), "shop", "nobody", []string{"pod-cred"}); err != nil || userFor(t, kc, "q.example.com/a:1") != "" {
		t.Errorf("For(nobody) = %v; want only the pod's secret", err)
	}

	fake.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "pod-cred", errors.New("RBAC says no"))
	})
	_, _, err = p.For(t.Context(), "shop", "other", []string{"pod-cred"})
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "reading the pull secrets of service account shop/other") {
		t.Errorf("a refused read gave %v, want a Forbidden error that names the service account", err)
	}
}
