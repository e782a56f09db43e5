// Package api serves the audit log over REST under /v1/audit: events with
// filters and cursor pagination, a streamed export, the latest signed
// checkpoint, and inclusion and consistency proofs. Every call is
// authenticated and authorised (resource auditevents, verbs get and list),
// and every read is itself recorded in the log.
package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/httpapi"
)

// Resource is the authorisation resource of the audit API.
const Resource = "auditevents"

// maxLimit bounds a page of events.
const maxLimit = 1000

// Register adds the audit routes to r.
func Register(r gin.IRouter, log *audit.Log, g *httpapi.Guard) {
	h := &handlers{log: log}
	ns := httpapi.Query("namespace")
	v1 := r.Group("/v1/audit", g.Authenticate())
	v1.GET("/events", g.Require("list", Resource, ns), h.events)
	v1.GET("/export", g.Require("list", Resource, ns), h.export)
	v1.GET("/checkpoint", g.Require("get", Resource, nil), h.checkpoint)
	v1.GET("/proofs/inclusion", g.Require("get", Resource, nil), h.inclusion)
	v1.GET("/proofs/consistency", g.Require("get", Resource, nil), h.consistency)
}

type handlers struct {
	log *audit.Log
}

// readRecorded records who read what before answering: a read that cannot
// be recorded is not served.
func (h *handlers) readRecorded(c *gin.Context) bool {
	u := httpapi.User(c)
	details, _ := json.Marshal(map[string]string{"path": c.Request.URL.Path, "query": c.Request.URL.RawQuery})
	rec := audit.Record{Event: audit.EventAuditRead, Details: details}
	if u != nil {
		rec.User = audit.User{Username: u.Name, UID: u.UID, Groups: u.Groups}
	}
	if _, err := h.log.Append(c.Request.Context(), rec); err != nil {
		httpapi.Abort(c, http.StatusServiceUnavailable, "audit-unavailable", "recording this read: "+err.Error())
		return false
	}
	return true
}

func (h *handlers) events(c *gin.Context) {
	f, err := filter(c)
	if err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxLimit {
			httpapi.Abort(c, http.StatusBadRequest, "bad-request", fmt.Sprintf("limit must be 1 to %d", maxLimit))
			return
		}
	}
	if !h.readRecorded(c) {
		return
	}
	entries, next, err := h.log.Query(c.Request.Context(), f, c.Query("cursor"), limit)
	if err != nil {
		if errors.Is(err, audit.ErrInvalidArguments) || errors.Is(err, audit.ErrBadCursor) {
			httpapi.Abort(c, http.StatusBadRequest, "bad-request", err.Error())
			return
		}
		httpapi.Abort(c, http.StatusInternalServerError, "query-failed", err.Error())
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	c.JSON(http.StatusOK, gin.H{"events": entries, "next": next})
}

func (h *handlers) export(c *gin.Context) {
	f, err := filter(c)
	if err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	format := c.DefaultQuery("format", "jsonl")
	contentType := map[string]string{"jsonl": "application/jsonl", "csv": "text/csv"}[format]
	if contentType == "" {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "format must be jsonl or csv")
		return
	}
	if !h.readRecorded(c) {
		return
	}
	c.Header("Content-Type", contentType)
	c.Status(http.StatusOK)
	if err := h.log.Export(c.Request.Context(), c.Writer, f, format); err != nil {
		// The status is sent; the stream ends short, which a reader sees
		// as a truncated file. Say why in a trailer line for CSV/JSONL.
		fmt.Fprintf(c.Writer, "\n# export failed: %v\n", err)
	}
}

func (h *handlers) checkpoint(c *gin.Context) {
	if !h.readRecorded(c) {
		return
	}
	cp, err := h.log.Checkpoint(c.Request.Context())
	if err != nil {
		httpapi.Abort(c, http.StatusNotFound, "no-checkpoint", err.Error())
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", cp)
}

func (h *handlers) inclusion(c *gin.Context) {
	seq, err1 := strconv.ParseUint(c.Query("seq"), 10, 64)
	size, err2 := strconv.ParseUint(c.Query("size"), 10, 64)
	if err1 != nil || err2 != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "seq and size must be numbers")
		return
	}
	if !h.readRecorded(c) {
		return
	}
	p, err := h.log.InclusionProof(c.Request.Context(), seq, size)
	if err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "no-proof", err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"seq": seq, "size": size, "hashes": encode(p)})
}

func (h *handlers) consistency(c *gin.Context) {
	from, err1 := strconv.ParseUint(c.Query("from"), 10, 64)
	to, err2 := strconv.ParseUint(c.Query("to"), 10, 64)
	if err1 != nil || err2 != nil {
		httpapi.Abort(c, http.StatusBadRequest, "bad-request", "from and to must be numbers")
		return
	}
	if !h.readRecorded(c) {
		return
	}
	p, err := h.log.ConsistencyProof(c.Request.Context(), from, to)
	if err != nil {
		httpapi.Abort(c, http.StatusBadRequest, "no-proof", err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": from, "to": to, "hashes": encode(p)})
}

func encode(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// The times the log can hold: it stores nanoseconds since 1970 in an
// int64, which spans the years 1678 to 2262.
var (
	earliest = time.Unix(0, math.MinInt64)
	latest   = time.Unix(0, math.MaxInt64)
)

// filter reads the query parameters every listing takes. Text must be
// valid UTF-8 without NUL: PostgreSQL refuses anything else in a query,
// which made such a parameter a 500 there. A time outside what the log
// can hold reads as the bound it passes (since the year 1 is everything),
// never as a number that has wrapped around.
func filter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{}
	for param, v := range map[string]*string{
		"namespace": &f.Namespace, "kind": &f.Kind, "name": &f.Name, "repository": &f.Repository,
		"digest": &f.Digest, "user": &f.User, "decision": &f.Decision,
	} {
		*v = c.Query(param)
		switch {
		case !utf8.ValidString(*v):
			return f, fmt.Errorf("%s must be valid UTF-8", param)
		case strings.ContainsRune(*v, 0):
			return f, fmt.Errorf("%s must be text without NUL", param)
		}
	}
	for param, t := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := c.Query(param); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, fmt.Errorf("%s must be an RFC 3339 time: %w", param, err)
			}
			// The zero time (the year 1) is before earliest: "since"
			// it is no bound, "until" it is nothing.
			switch since := param == "since"; {
			case v.Before(earliest) && since, v.After(latest) && !since:
				v = time.Time{} // no bound
			case v.Before(earliest):
				v = earliest
			case v.After(latest):
				v = latest
			}
			*t = v
		}
	}
	return f, nil
}
