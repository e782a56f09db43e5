// Package kube authenticates callers with the cluster's TokenReview API and
// authorises them with SubjectAccessReview, so shipgate's API honours the
// same identities and RBAC as the cluster it guards.
package kube

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/internal/kube"
)

// Reviewer implements auth.Authenticator and auth.Authorizer against a
// cluster. Successful token reviews are cached for TTL (10 s by default) so
// a CLI session does not cost a TokenReview per call; refusals are not
// cached.
type Reviewer struct {
	client    *kube.Client
	audiences []string
	ttl       time.Duration
	now       func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	user    auth.User
	expires time.Time
}

var (
	_ auth.Authenticator = (*Reviewer)(nil)
	_ auth.Authorizer    = (*Reviewer)(nil)
)

// NewReviewer returns a Reviewer using client. audiences, when given, are
// the token audiences the TokenReview asks for.
func NewReviewer(client *kube.Client, audiences ...string) *Reviewer {
	return &Reviewer{client: client, audiences: audiences, ttl: 10 * time.Second, now: time.Now, cache: map[[32]byte]cached{}}
}

// Authenticate asks the API server who token belongs to.
func (r *Reviewer) Authenticate(ctx context.Context, token string) (*auth.User, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no bearer token", auth.ErrUnauthenticated)
	}
	key := sha256.Sum256([]byte(token))
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && r.now().Before(c.expires) {
		r.mu.Unlock()
		u := c.user
		return &u, nil
	}
	r.mu.Unlock()

	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: r.audiences}}
	if err := r.client.Create(ctx, kube.TokenReviews, "", tr, tr); err != nil {
		return nil, fmt.Errorf("reviewing the token: %w", err)
	}
	if !tr.Status.Authenticated {
		why := tr.Status.Error
		if why == "" {
			why = "token not recognised by the cluster"
		}
		return nil, fmt.Errorf("%w: %s", auth.ErrUnauthenticated, why)
	}
	u := auth.User{Name: tr.Status.User.Username, UID: tr.Status.User.UID, Groups: tr.Status.User.Groups}
	r.mu.Lock()
	if len(r.cache) > 10000 {
		clear(r.cache) // bounded: a flood of distinct tokens cannot grow it
	}
	r.cache[key] = cached{user: u, expires: r.now().Add(r.ttl)}
	r.mu.Unlock()
	return &u, nil
}

// Authorize asks the API server whether u may perform a on shipgate.dev.
func (r *Reviewer) Authorize(ctx context.Context, u *auth.User, a auth.Attributes) (bool, string, error) {
	sar := &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User:   u.Name,
			UID:    u.UID,
			Groups: u.Groups,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: a.Namespace,
				Verb:      a.Verb,
				Group:     auth.Group,
				Resource:  a.Resource,
				Name:      a.Name,
			},
		},
	}
	if err := r.client.Create(ctx, kube.SubjectAccessReviews, "", sar, sar); err != nil {
		return false, "", fmt.Errorf("reviewing access: %w", err)
	}
	if sar.Status.Allowed {
		return true, "", nil
	}
	reason := sar.Status.Reason
	if reason == "" {
		reason = fmt.Sprintf("%s may not %s %s.%s in namespace %q", u.Name, a.Verb, a.Resource, auth.Group, a.Namespace)
	}
	return false, reason, nil
}
