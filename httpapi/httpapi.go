// Package httpapi holds what shipgate's REST API routes share: the error
// body {"error":{"code","message"}}, and the gin middleware that
// authenticates the bearer token and authorises each route through auth.
package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/auth"
)

// ErrorBody is the JSON of every API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable code and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Abort ends a request with status and the error body.
func Abort(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// userKey is where Authenticate leaves the caller.
const userKey = "shipgate.user"

// Guard authenticates and authorises API calls.
type Guard struct {
	Authn auth.Authenticator
	Authz auth.Authorizer
}

// Authenticate resolves the bearer token to a user, or answers 401.
func (g *Guard) Authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		u, err := g.Authn.Authenticate(c.Request.Context(), auth.BearerToken(c.Request))
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			c.Header("WWW-Authenticate", `Bearer realm="shipgate"`)
			Abort(c, http.StatusUnauthorized, "unauthenticated", err.Error())
			return
		case err != nil:
			Abort(c, http.StatusServiceUnavailable, "authentication-unavailable", err.Error())
			return
		}
		c.Set(userKey, u)
		c.Next()
	}
}

// Require allows the route only to callers permitted verb on resource in
// the namespace namespace returns ("" for all namespaces); others get 403.
func (g *Guard) Require(verb, resource string, namespace func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := User(c)
		if u == nil {
			Abort(c, http.StatusUnauthorized, "unauthenticated", "no authenticated caller")
			return
		}
		ns := ""
		if namespace != nil {
			ns = namespace(c)
		}
		ok, reason, err := g.Authz.Authorize(c.Request.Context(), u, auth.Attributes{Verb: verb, Resource: resource, Namespace: ns})
		switch {
		case err != nil:
			Abort(c, http.StatusServiceUnavailable, "authorization-unavailable", err.Error())
		case !ok:
			Abort(c, http.StatusForbidden, "forbidden", reason)
		default:
			c.Next()
		}
	}
}

// User is the authenticated caller of c, nil before Authenticate ran.
func User(c *gin.Context) *auth.User {
	v, ok := c.Get(userKey)
	if !ok {
		return nil
	}
	u, _ := v.(*auth.User)
	return u
}

// Query is a namespace function reading a query parameter.
func Query(name string) func(*gin.Context) string {
	return func(c *gin.Context) string { return c.Query(name) }
}
