package kube

import (
	"errors"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
)

// cluster answers TokenReviews for one token and SubjectAccessReviews for
// one grant, counting the TokenReviews it is asked. The real API server
// answers these in the end-to-end tests; here the client-go fake stands in.
func cluster(reviews *int) *kube.Client {
	c, fake := kubetest.New()
	fake.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*reviews++
		tr := &authnv1.TokenReview{}
		if err := kubetest.Typed(a.(k8stesting.CreateAction).GetObject(), tr); err != nil {
			return true, nil, err
		}
		if tr.Spec.Token == "good" {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "alice", UID: "u2", Groups: []string{"release-managers"}}}
		} else {
			tr.Status = authnv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		return true, kubetest.Unstructured(tr), nil
	})
	fake.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := &authzv1.SubjectAccessReview{}
		if err := kubetest.Typed(a.(k8stesting.CreateAction).GetObject(), sar); err != nil {
			return true, nil, err
		}
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "alice" && ra.Group == auth.Group && ra.Resource == "approvals" &&
			ra.Verb == "approve" && ra.Namespace == "prod-payments"
		return true, kubetest.Unstructured(sar), nil
	})
	return c
}

func TestReviewer(t *testing.T) {
	t.Parallel()
	var reviews int
	r := NewReviewer(cluster(&reviews))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }

	u, err := r.Authenticate(t.Context(), "good")
	if err != nil || u.Name != "alice" || !u.InGroup("release-managers") {
		t.Fatalf("Authenticate(good) = %+v, %v", u, err)
	}
	if _, err := r.Authenticate(t.Context(), "good"); err != nil || reviews != 1 {
		t.Errorf("a second call within the TTL made %d TokenReviews, want 1 (%v)", reviews, err)
	}
	now = now.Add(11 * time.Second)
	if _, err := r.Authenticate(t.Context(), "good"); err != nil || reviews != 2 {
		t.Errorf("after the TTL: %d TokenReviews, want 2 (%v)", reviews, err)
	}
	if _, err := r.Authenticate(t.Context(), "bad"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(bad) = %v, want ErrUnauthenticated", err)
	}

	for name, tc := range map[string]struct {
		a    auth.Attributes
		want bool
	}{
		"approve in prod-payments": {auth.Attributes{Verb: "approve", Resource: "approvals", Namespace: "prod-payments"}, true},
		"approve elsewhere":        {auth.Attributes{Verb: "approve", Resource: "approvals", Namespace: "dev"}, false},
		"redact":                   {auth.Attributes{Verb: "redact", Resource: "auditevents"}, false},
	} {
		ok, reason, err := r.Authorize(t.Context(), u, tc.a)
		if err != nil || ok != tc.want {
			t.Errorf("%s: Authorize = %v (%s), %v; want %v", name, ok, reason, err, tc.want)
		}
	}
}
