// Package api serves POST /v1/verify: verify images ahead of deployment
// (a CI step) against the trust policies bound to a namespace. The results
// warm the verification cache, so the admission that follows is a lookup.
// Calls are authenticated and authorised per namespace (resource
// verifications, verb create).
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/signer"
)

// Resource is the authorisation resource of the verify API.
const Resource = "verifications"

// MaxImages bounds one request.
const MaxImages = 100

// maxBody bounds the request body.
const maxBody = 1 << 20

// Verifier is what the API needs of the signer.
type Verifier interface {
	Verify(ctx context.Context, req signer.Request) []*signer.Result
}

// TrustFor returns the trust policies bound to a namespace, or an error
// when the namespace cannot be looked up.
type TrustFor func(ctx context.Context, namespace string) ([]string, error)

// Request is the body of POST /v1/verify.
type Request struct {
	Images []string `json:"images"`
}

// Response is its answer: one result per distinct image, in order.
type Response struct {
	Namespace string           `json:"namespace"`
	Trust     []string         `json:"trust"`
	Results   []*signer.Result `json:"results"`
}

// Register adds the route to r.
func Register(r gin.IRouter, v Verifier, trust TrustFor, g *httpapi.Guard) {
	h := &handler{v: v, trust: trust}
	r.POST("/v1/verify", g.Authenticate(), needNamespace, g.Require("create", Resource, httpapi.Query("namespace")), h.verify)
}

// needNamespace refuses a call without a namespace before authorising it:
// the answer then says what is missing rather than "forbidden".
func needNamespace(c *gin.Context) {
	if c.Query("namespace") == "" {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "the namespace query parameter is required: images are verified against the trust policies bound to it")
	}
}

type handler struct {
	v     Verifier
	trust TrustFor
}

func (h *handler) verify(c *gin.Context) {
	ns := c.Query("namespace")
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "reading the request: "+err.Error())
		return
	}
	switch {
	case len(req.Images) == 0:
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", `"images" must list at least one image reference`)
		return
	case len(req.Images) > MaxImages:
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", fmt.Sprintf(`"images" lists %d references, at most %d at a time`, len(req.Images), MaxImages))
		return
	}
	trust, err := h.trust(c.Request.Context(), ns)
	if err != nil {
		httpapi.Abort(c, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	results := h.v.Verify(c.Request.Context(), signer.Request{Images: req.Images, Trust: trust})
	c.JSON(http.StatusOK, Response{Namespace: ns, Trust: trust, Results: results})
}
