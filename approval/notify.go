package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Notification is the JSON body POSTed to receivers. Text makes it a Slack
// incoming-webhook message as it is; the other fields are for programs.
type Notification struct {
	Text string `json:"text"`
	// Event is created, approved, rejected or expired.
	Event   string  `json:"event"`
	Request Request `json:"request"`
	// ApproveCommand and ApprovePath say how to approve a pending request.
	ApproveCommand string `json:"approveCommand,omitempty"`
	ApprovePath    string `json:"approvePath,omitempty"`
}

// ApproveCommand is the CLI command that approves request id.
func ApproveCommand(id string) string { return "shipgate approvals approve " + id }

// ApprovePath is the API path that approves request id.
func ApprovePath(id string) string { return "/v1/approvals/" + id + "/approve" }

// notifier delivers notifications in the background: each to each target
// on its own goroutine, retried with exponential backoff, each attempt
// bounded by a timeout. Nothing waits for it but Close.
type notifier struct {
	opts   options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newNotifier(o options) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{opts: o, ctx: ctx, cancel: cancel}
}

// send queues event about r for every target that wants it and returns at
// once.
func (n *notifier) send(event string, r Request) {
	body := notification(event, r)
	for _, t := range n.opts.targets() {
		if len(t.Events) > 0 && !slices.Contains(t.Events, event) {
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.deliver(t.URL, event, r.ID, body)
		}()
	}
}

// deliver POSTs body until a receiver answers 2xx, a 4xx other than 408
// and 429 says retrying is pointless, or the attempts run out.
func (n *notifier) deliver(url, event, id string, body []byte) {
	wait := n.opts.backoff
	var last string
	for attempt := 1; attempt <= n.opts.attempts; attempt++ {
		status, err := n.post(url, body)
		switch {
		case err == nil && status/100 == 2:
			return
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("HTTP %d", status)
			if status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
				attempt = n.opts.attempts // the receiver refuses this body: do not retry
			}
		}
		if attempt == n.opts.attempts {
			break
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, max(n.opts.maxWait, n.opts.backoff))
	}
	// The URL may carry a secret (a Slack webhook's does): log its host only.
	n.opts.logger.Error("notifying of an approval event failed; giving up", "request", id, "event", event,
		"receiver", hostOf(url), "attempts", n.opts.attempts, "error", last)
}

func (n *notifier) post(url string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shipgate")
	resp, err := n.opts.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting to %s: %w", hostOf(url), unwrapURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// close waits up to grace for deliveries, then cancels the rest.
func (n *notifier) close(grace time.Duration) {
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
	n.cancel()
	<-done
}

// notification is the JSON body for event about r.
func notification(event string, r Request) []byte {
	n := Notification{Event: event, Request: r}
	images := make([]string, len(r.Images))
	for i, im := range r.Images {
		images[i] = im.Ref
		if im.Digest != "" && !strings.Contains(im.Ref, "@") {
			images[i] += "@" + im.Digest
		}
	}
	var b strings.Builder
	switch event {
	case "created":
		n.ApproveCommand, n.ApprovePath = ApproveCommand(r.ID), ApprovePath(r.ID)
		fmt.Fprintf(&b, "shipgate: approval requested for %s by %s (request %s)\n", r.Object(), r.Requester.Name, r.ID)
		for _, q := range r.Requirements {
			fmt.Fprintf(&b, "• %s\n", q)
		}
		fmt.Fprintf(&b, "Approve with `%s` or POST %s before %s", n.ApproveCommand, n.ApprovePath, r.ExpiresAt.Format(time.RFC3339))
	case "approved":
		how := "approved by " + strings.Join(r.Approvers(), ", ")
		if r.BreakGlass {
			how = "approved with BREAK-GLASS by " + strings.Join(r.Approvers(), ", ") + ": " + r.BreakGlassReason
		}
		fmt.Fprintf(&b, "shipgate: %s (requested by %s) %s; request %s is valid until %s", r.Object(), r.Requester.Name, how, r.ID, r.ExpiresAt.Format(time.RFC3339))
	case "rejected":
		fmt.Fprintf(&b, "shipgate: %s (requested by %s) was rejected (request %s)", r.Object(), r.Requester.Name, r.ID)
		for _, v := range r.Votes {
			if v.Verdict == VerdictReject {
				fmt.Fprintf(&b, " by %s", v.User.Name)
				if v.Comment != "" {
					fmt.Fprintf(&b, ": %s", v.Comment)
				}
			}
		}
	case "expired":
		fmt.Fprintf(&b, "shipgate: approval request %s for %s (requested by %s) expired", r.ID, r.Object(), r.Requester.Name)
	}
	fmt.Fprintf(&b, "\nNamespace: %s · Workload: %s %s · Images: %s · Requester: %s",
		r.Namespace, r.Kind, r.Name, strings.Join(images, ", "), r.Requester.Name)
	n.Text = b.String()
	body, _ := json.Marshal(n)
	return body
}

// hostOf is a URL's scheme and host, without the path that may be secret.
func hostOf(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(invalid URL)"
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	return scheme + "://" + host
}

// unwrapURL drops a *url.Error's own text, which repeats the whole URL.
func unwrapURL(err error) error {
	type wrapper interface{ Unwrap() error }
	if w, ok := err.(wrapper); ok && strings.Contains(err.Error(), "://") {
		if inner := w.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
