package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/shipgate/shipgate/audit"
)

// demoPeople call the gateway's REST API over its TLS listener as the
// people of the demo's token file would: the same client and output as
// `shipgate approvals …`, a bearer token each.
type demoPeople struct {
	server string // https://127.0.0.1:PORT
	caFile string
}

// conn is how who reaches the API: their token from demodata/tokens.csv.
func (p demoPeople) conn(who string) apiConn {
	return apiConn{Server: p.server, CAFile: p.caFile, Token: "demo-token-" + who}
}

// approve runs `shipgate approvals approve ID --comment …` as who
// (POST /v1/approvals/ID/approve) and prints what the command prints, or
// the gateway's refusal.
func (p demoPeople) approve(ctx context.Context, out io.Writer, who, id, comment string) error {
	fmt.Fprintf(out, "    $ SHIPGATE_TOKEN=demo-token-%s shipgate approvals approve %s --comment %q\n", who, id, comment)
	var b bytes.Buffer
	err := runApprovalsVote(ctx, &b, approvalsOptions{Conn: p.conn(who), Output: "table", ID: id, Comment: comment, Verb: "approve"})
	var refused *APIError
	switch {
	case errors.As(err, &refused):
		fmt.Fprintf(out, "    → refused: %s\n", refused)
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "    → %s\n", strings.TrimSpace(b.String()))
	}
	return nil
}

// auditRecords reads the audit log through the API as who (GET
// /v1/audit/events) and prints each record's decision and the digests
// its images were admitted at.
func (p demoPeople) auditRecords(ctx context.Context, out io.Writer, who string, q url.Values) ([]audit.Entry, error) {
	path := "/v1/audit/events?" + q.Encode()
	fmt.Fprintf(out, "    GET %s (as %s)\n", path, who)
	c, err := p.conn(who).client()
	if err != nil {
		return nil, err
	}
	var page struct {
		Events []audit.Entry `json:"events"`
	}
	if err := c.do(ctx, "GET", path, nil, &page); err != nil {
		return nil, fmt.Errorf("reading the audit log as %s: %w", who, err)
	}
	for _, e := range page.Events {
		r := e.Record
		fmt.Fprintf(out, "    → record %d: %s %s/%s %s by %s (decision %s)\n", e.Seq, r.Kind, r.Namespace, r.Name, r.Decision, r.User.Username, r.DecisionID)
		for _, im := range r.Images {
			fmt.Fprintf(out, "        container %s: %s pinned to %s\n", im.Container, im.Ref, im.Digest)
		}
	}
	return page.Events, nil
}
