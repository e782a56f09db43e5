package kube_test

import (
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
)

// TestCreateSendsKind: the API server refuses a body without apiVersion
// and kind, which typed objects built in Go leave empty.
func TestCreateSendsKind(t *testing.T) {
	t.Parallel()
	c, fake := kubetest.New()
	var sent *unstructured.Unstructured
	fake.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sent = a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		tr := &authnv1.TokenReview{Status: authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "alice"}}}
		return true, kubetest.Unstructured(tr), nil
	})
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: "t"}}
	if err := c.Create(t.Context(), kube.TokenReviews, "", tr, tr); err != nil {
		t.Fatal(err)
	}
	if sent.GetAPIVersion() != "authentication.k8s.io/v1" || sent.GetKind() != "TokenReview" {
		t.Errorf("sent apiVersion %q kind %q", sent.GetAPIVersion(), sent.GetKind())
	}
	if tok, _, _ := unstructured.NestedString(sent.Object, "spec", "token"); tok != "t" {
		t.Errorf("sent spec.token %q", tok)
	}
	if !tr.Status.Authenticated || tr.Status.User.Username != "alice" {
		t.Errorf("the answer was not read back: %+v", tr.Status)
	}
}

// TestGetAndList read typed objects, Secret data decoded from base64,
// and pass NotFound on.
func TestGetAndList(t *testing.T) {
	t.Parallel()
	c, _ := kubetest.New(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Data:       map[string][]byte{"key": []byte("value\x00")},
	})
	var s corev1.Secret
	if err := c.Get(t.Context(), kube.Secrets, "ns", "s", &s); err != nil || string(s.Data["key"]) != "value\x00" {
		t.Fatalf("Get = %q, %v", s.Data["key"], err)
	}
	if err := c.Get(t.Context(), kube.Secrets, "other", "s", &s); !apierrors.IsNotFound(err) {
		t.Errorf("Get in another namespace = %v, want NotFound", err)
	}
	var l corev1.SecretList
	if err := c.List(t.Context(), kube.Secrets, "ns", metav1.ListOptions{}, &l); err != nil || len(l.Items) != 1 || l.Items[0].Name != "s" {
		t.Errorf("List = %+v, %v", l.Items, err)
	}
}

// TestWatchTypesEvents: watch events carry typed objects; one that does
// not decode becomes an error event, which makes an informer list again.
func TestWatchTypesEvents(t *testing.T) {
	t.Parallel()
	c, fake := kubetest.New()
	w, err := c.Watch(t.Context(), kube.ConfigMaps, "ns", metav1.ListOptions{}, func() runtime.Object { return &corev1.ConfigMap{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	good := kubetest.Unstructured(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "good"}, Data: map[string]string{"a": "b"}})
	bad := kubetest.Unstructured(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bad"}})
	bad.Object["data"] = "not a map"
	for _, u := range []*unstructured.Unstructured{good, bad} {
		if _, err := fake.Resource(kube.ConfigMaps.GVR()).Namespace("ns").Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	next := func() watch.Event {
		select {
		case e := <-w.ResultChan():
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event")
			return watch.Event{}
		}
	}
	if e := next(); e.Type != watch.Added || e.Object.(*corev1.ConfigMap).Data["a"] != "b" {
		t.Errorf("first event %v %#v, want an added typed ConfigMap", e.Type, e.Object)
	}
	if e := next(); e.Type != watch.Error {
		t.Errorf("an undecodable object gave a %v event, want Error", e.Type)
	} else if st, ok := e.Object.(*metav1.Status); !ok || st.Message == "" {
		t.Errorf("error event carries %#v, want a Status with a message", e.Object)
	}
}
