package signer

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// roundTripper is the HTTP layer under every registry call: it counts
// requests, bounds each one with a timeout, and retries a 429 or 5xx answer
// with backoff while the request's context (the admission's deadline)
// leaves time for it. A Retry-After the registry sends is honoured when it
// fits; when it does not, the answer is returned as it came.
type roundTripper struct {
	inner    http.RoundTripper
	timeout  time.Duration
	retries  int
	backoff  time.Duration
	requests atomic.Int64
}

func newRoundTripper(timeout time.Duration, retries int) *roundTripper {
	return &roundTripper{
		inner: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		timeout: timeout,
		retries: retries,
		backoff: 100 * time.Millisecond,
	}
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		t.requests.Add(1)
		resp, err := t.once(req)
		if err != nil || !retryable(resp.StatusCode) || attempt >= t.retries || !rewindable(req) {
			return resp, err
		}
		wait := t.backoff << attempt
		if ra, ok := retryAfter(resp); ok {
			wait = ra
		}
		if dl, ok := req.Context().Deadline(); ok && time.Until(dl) < wait+t.backoff {
			return resp, nil // no time left to try again: let the caller see the answer
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

// once sends the request with its own timeout; the timeout's context is
// released when the body is closed.
func (t *roundTripper) once(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryAfter reads a Retry-After header given in seconds, capped at 10s.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, 10*time.Second), true
}
