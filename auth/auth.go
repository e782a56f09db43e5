package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Group is the API group shipgate's resources belong to in authorisation
// checks: a Role grants "approve" on "approvals" in "shipgate.dev".
const Group = "shipgate.dev"

// ErrUnauthenticated is wrapped by every failure to establish who is
// calling: no token, an unknown token, a token the cluster rejects.
var ErrUnauthenticated = errors.New("unauthenticated")

// User is an authenticated caller.
type User struct {
	Name   string   `json:"username"`
	UID    string   `json:"uid,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// InGroup tells whether u belongs to group.
func (u *User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Attributes describe one action: a verb on a resource of Group, in a
// namespace ("" for all namespaces), optionally on one named object.
type Attributes struct {
	Verb      string
	Resource  string
	Namespace string
	Name      string
}

// Authenticator turns a bearer token into a User.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*User, error)
}

// Authorizer decides whether a user may act. The reason explains a
// refusal when there is one to give.
type Authorizer interface {
	Authorize(ctx context.Context, u *User, a Attributes) (allowed bool, reason string, err error)
}

// BearerToken extracts the token of an "Authorization: Bearer …" header,
// or "" when there is none.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
