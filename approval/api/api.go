// Package api serves approval requests over REST under /v1/approvals:
// list, get, approve, reject, and request ahead of time. Every call is
// authenticated (bearer token) and authorised in the request's namespace
// on resource "approvals" of API group shipgate.dev, one verb per route:
//
//	GET  /v1/approvals?namespace=&state=&limit=  list     (in namespace; all namespaces without it)
//	POST /v1/approvals                           create   {"namespace", "object"}
//	GET  /v1/approvals/:id                       get
//	POST /v1/approvals/:id/approve               approve  {"comment", "breakGlass"}
//	POST /v1/approvals/:id/reject                reject   {"comment"}
//
// so teams grant approvers with an ordinary Role and RoleBinding. Who votes
// is always the authenticated caller; no identity is read from a body.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/httpapi"
)

// Resource is the authorisation resource of the approval API.
const Resource = "approvals"

// Body limits: a manifest is one object, which etcd caps at 1.5 MiB; a
// vote is a comment.
const (
	maxManifest = 2 << 20
	maxVote     = 64 << 10
)

// Register adds the approval routes to r.
func Register(r gin.IRouter, svc *approval.Service, g *httpapi.Guard) {
	h := &handlers{svc: svc}
	v1 := r.Group("/v1/approvals", g.Authenticate())
	v1.GET("", g.Require("list", Resource, httpapi.Query("namespace")), h.list)
	v1.POST("", h.readManifest, g.Require("create", Resource, manifestNamespace), h.create)
	v1.GET("/:id", h.load, g.Require("get", Resource, loadedNamespace), h.get)
	v1.POST("/:id/approve", h.load, g.Require("approve", Resource, loadedNamespace), h.approve)
	v1.POST("/:id/reject", h.load, g.Require("reject", Resource, loadedNamespace), h.reject)
}

type handlers struct {
	svc *approval.Service
}

// Context keys.
const (
	requestKey  = "shipgate.approval"
	manifestKey = "shipgate.manifest"
)

func (h *handlers) list(c *gin.Context) {
	if !text(c.Query("namespace")) {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "namespace must be valid UTF-8 without NUL")
		return
	}
	state, err := approval.ParseState(c.Query("state"))
	if err != nil {
		abort(c, err)
		return
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			httpapi.Abort(c, http.StatusBadRequest, "bad-request", "limit must be 1 to 1000")
			return
		}
	}
	rs, err := h.svc.List(c.Request.Context(), approval.Filter{Namespace: c.Query("namespace"), State: state, Limit: limit})
	if err != nil {
		abort(c, err)
		return
	}
	if rs == nil {
		rs = []*approval.Request{}
	}
	c.JSON(http.StatusOK, gin.H{"approvals": rs})
}

// load reads the request named in the path, so that authorisation can be
// asked in its namespace.
func (h *handlers) load(c *gin.Context) {
	if !text(c.Param("id")) {
		httpapi.Abort(c, http.StatusNotFound, "not-found", fmt.Sprintf("no approval request %q", c.Param("id")))
		return
	}
	r, err := h.svc.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		abort(c, err)
		return
	}
	c.Set(requestKey, r)
	c.Next()
}

func loaded(c *gin.Context) *approval.Request {
	r, _ := c.MustGet(requestKey).(*approval.Request)
	return r
}

func loadedNamespace(c *gin.Context) string { return loaded(c).Namespace }

func (h *handlers) get(c *gin.Context) { c.JSON(http.StatusOK, loaded(c)) }

// voteBody is what an approver sends with a vote.
type voteBody struct {
	Comment    string `json:"comment"`
	BreakGlass bool   `json:"breakGlass"`
}

func (h *handlers) approve(c *gin.Context) {
	var b voteBody
	if !readJSON(c, maxVote, &b, true) {
		return
	}
	r, err := h.svc.Approve(c.Request.Context(), loaded(c).ID, *httpapi.User(c), approval.VoteInput{Comment: b.Comment, BreakGlass: b.BreakGlass})
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (h *handlers) reject(c *gin.Context) {
	var b voteBody
	if !readJSON(c, maxVote, &b, true) {
		return
	}
	if b.BreakGlass {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "breakGlass applies to approvals, not rejections")
		return
	}
	r, err := h.svc.Reject(c.Request.Context(), loaded(c).ID, *httpapi.User(c), b.Comment)
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// readManifest reads a create body, so that authorisation can be asked in
// the namespace of its object.
func (h *handlers) readManifest(c *gin.Context) {
	var m approval.Manifest
	if !readJSON(c, maxManifest, &m, false) {
		return
	}
	if len(m.Object) == 0 || m.Object[0] != '{' {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", `the body must be {"namespace": "…", "object": {…the workload…}}`)
		return
	}
	if msg := badNames(&m); msg != "" {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", msg)
		return
	}
	c.Set(manifestKey, &m)
	c.Next()
}

// badNames says what is wrong with the names of a manifest that no
// Kubernetes object could carry, "" when nothing is: the namespace must
// be a DNS-1123 label, the name a DNS-1123 subdomain.
func badNames(m *approval.Manifest) string {
	var head struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if json.Unmarshal(m.Object, &head) != nil {
		return "" // the service says what is wrong with the object
	}
	for _, ns := range []string{m.Namespace, head.Metadata.Namespace} {
		if errs := validation.IsDNS1123Label(ns); ns != "" && len(errs) > 0 {
			return fmt.Sprintf("namespace %q: %s", ns, errs[0])
		}
	}
	if name := head.Metadata.Name; name != "" {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return fmt.Sprintf("metadata.name %q: %s", name, errs[0])
		}
	}
	return ""
}

// manifestNamespace is the namespace the object names, else the body's.
func manifestNamespace(c *gin.Context) string {
	m := c.MustGet(manifestKey).(*approval.Manifest)
	var head struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if json.Unmarshal(m.Object, &head) == nil && head.Metadata.Namespace != "" {
		return head.Metadata.Namespace
	}
	return m.Namespace
}

func (h *handlers) create(c *gin.Context) {
	m := c.MustGet(manifestKey).(*approval.Manifest)
	r, created, err := h.svc.RequestAhead(c.Request.Context(), *m, *httpapi.User(c))
	if err != nil {
		abort(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, r)
}

// readJSON decodes a body of at most limit bytes into v; an empty body is
// allowed when optional. It answers 400 and returns false when it cannot.
func readJSON(c *gin.Context, limit int64, v any, optional bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpapi.Abort(c, http.StatusRequestEntityTooLarge, "too-large", "the body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return false
		}
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "reading the body: "+err.Error())
		return false
	}
	if len(body) == 0 && optional {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "the body is not the JSON expected: "+err.Error())
		return false
	}
	if holdsNUL(body) {
		// PostgreSQL refuses NUL in text, which made it a 500 there.
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", `the body holds a NUL character (\u0000), which no name, namespace or comment may hold`)
		return false
	}
	return true
}

// text reports whether s can be stored as text: valid UTF-8 without NUL,
// which PostgreSQL refuses (a 500 there before this check).
func text(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// holdsNUL reports whether a valid JSON text has a string holding NUL: the
// escape \u0000 (a raw NUL is not valid JSON). Backslashes appear only in
// strings, each starting an escape.
func holdsNUL(body []byte) bool {
	for i := 0; i < len(body)-1; i++ {
		if body[i] != '\\' {
			continue
		}
		if body[i+1] == 'u' && bytes.HasPrefix(body[i+2:], []byte("0000")) {
			return true
		}
		i++ // the escaped character
	}
	return false
}

// abort answers an error from the Service with the status it means.
func abort(c *gin.Context, err error) {
	for _, m := range []struct {
		err    error
		status int
		code   string
	}{
		{approval.ErrNotFound, http.StatusNotFound, "not-found"},
		{approval.ErrInvalid, http.StatusBadRequest, "bad-request"},
		{approval.ErrNoRule, http.StatusBadRequest, "no-approval-rule"},
		{approval.ErrSelfApproval, http.StatusForbidden, "self-approval"},
		{approval.ErrNotEligible, http.StatusForbidden, "not-eligible"},
		{approval.ErrAlreadyVoted, http.StatusConflict, "already-voted"},
		{approval.ErrRejected, http.StatusConflict, "rejected"},
		{approval.ErrExpired, http.StatusConflict, "expired"},
		{approval.ErrDecided, http.StatusConflict, "already-approved"},
	} {
		if errors.Is(err, m.err) {
			httpapi.Abort(c, m.status, m.code, err.Error())
			return
		}
	}
	httpapi.Abort(c, http.StatusInternalServerError, "internal", err.Error())
}
