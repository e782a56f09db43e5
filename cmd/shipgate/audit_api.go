package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/httpapi"
)

// This file is the audit commands' --server mode: the log read through the
// gateway's audit API (/v1/audit) by someone who may call it but holds no
// database credentials.

// apiSource is the log behind the gateway's audit API, as
// audit.VerifySource reads it.
type apiSource struct{ c *apiClient }

var _ audit.Source = apiSource{}

// Checkpoint fetches the latest signed checkpoint note.
func (s apiSource) Checkpoint(ctx context.Context) ([]byte, error) {
	body, err := s.c.stream(ctx, "/v1/audit/checkpoint")
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == "no-checkpoint" {
		return nil, fmt.Errorf("fetching the latest checkpoint: %w", audit.ErrNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching the latest checkpoint: %w", err)
	}
	defer body.Close()
	// maxCheckpoint is 64 KiB: a checkpoint note is three lines and a
	// signature line per key, a few hundred bytes.
	const maxCheckpoint = 64 << 10
	b, err := io.ReadAll(io.LimitReader(body, maxCheckpoint))
	if err != nil {
		return nil, fmt.Errorf("fetching the latest checkpoint: %w", err)
	}
	return b, nil
}

// Export streams the whole log as JSON Lines.
func (s apiSource) Export(ctx context.Context) (io.ReadCloser, error) {
	return s.c.stream(ctx, "/v1/audit/export?format="+audit.FormatJSONL)
}

// ConsistencyProof fetches the proof that the tree of size2 extends the
// tree of size1.
func (s apiSource) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	q := url.Values{"from": {strconv.FormatUint(size1, 10)}, "to": {strconv.FormatUint(size2, 10)}}
	var resp struct {
		Hashes []string `json:"hashes"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/v1/audit/proofs/consistency?"+q.Encode(), nil, &resp); err != nil {
		return nil, fmt.Errorf("fetching a consistency proof from size %d to %d: %w", size1, size2, err)
	}
	out := make([][]byte, len(resp.Hashes))
	for i, h := range resp.Hashes {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("fetching a consistency proof from size %d to %d: hash %d: %w", size1, size2, i, err)
		}
		out[i] = b
	}
	return out, nil
}

// queryAPI reads the first page of records matching f, as Log.Query does:
// up to limit (DefaultLimit when not positive, at most MaxLimit).
func queryAPI(ctx context.Context, c *apiClient, f audit.Filter, limit int) ([]audit.Entry, error) {
	if limit <= 0 {
		limit = audit.DefaultLimit
	}
	q := filterQuery(f)
	q.Set("limit", strconv.Itoa(min(limit, audit.MaxLimit)))
	var page struct {
		Events []audit.Entry `json:"events"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/audit/events?"+q.Encode(), nil, &page); err != nil {
		return nil, fmt.Errorf("querying the audit log: %w", err)
	}
	return page.Events, nil
}

// exportAPI copies the gateway's export of the records matching f to out.
// The gateway has sent its status before it reads the log, so a failure
// midway ends the stream with a blank line and "# export failed: …";
// that note is an error here, not output.
func exportAPI(ctx context.Context, c *apiClient, out io.Writer, f audit.Filter, format string) error {
	q := filterQuery(f)
	q.Set("format", format)
	body, err := c.stream(ctx, "/v1/audit/export?"+q.Encode())
	if err != nil {
		return fmt.Errorf("exporting the audit log: %w", err)
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	var held []byte // a blank line held back: the failure note may follow it
	write := func(b []byte) error {
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("exporting the audit log: %w", err)
		}
		return nil
	}
	for {
		line, readErr := br.ReadBytes('\n')
		if held != nil && bytes.HasPrefix(line, exportFailed) {
			return fmt.Errorf("exporting the audit log: the gateway says: %s", bytes.TrimSpace(line[len(exportFailed):]))
		}
		if held != nil {
			if err := write(held); err != nil {
				return err
			}
			held = nil
		}
		if string(line) == "\n" {
			held = line
		} else if err := write(line); err != nil {
			return err
		}
		if errors.Is(readErr, io.EOF) {
			return write(held)
		}
		if readErr != nil {
			return fmt.Errorf("exporting the audit log: %w", readErr)
		}
	}
}

// exportFailed starts the line the gateway ends a failed export with.
var exportFailed = []byte("# export failed: ")

// filterQuery is f as the audit API's query parameters.
func filterQuery(f audit.Filter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"namespace": f.Namespace, "kind": f.Kind, "name": f.Name, "repository": f.Repository,
		"digest": f.Digest, "user": f.User, "decision": f.Decision} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return q
}

// stream GETs path and returns the body of a 2xx answer unread, without
// the client's 30-second limit on the whole exchange: an export of a long
// log takes longer, and ctx still ends it.
func (c *apiClient) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the gateway: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	// maxErrorBody is 1 MiB: an error body is one short JSON object.
	const maxErrorBody = 1 << 20
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e httpapi.ErrorBody
	if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
		return nil, &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
	}
	return nil, &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
}
