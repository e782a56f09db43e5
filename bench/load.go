package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// units hands out the work of a scenario: a unit is one request, or the
// ordered requests one rollout makes (mixed). next returns nil when a
// scenario with a finite pool (cold) has run out.
type units interface {
	next() []*request
}

// cycle is an endless units over a prepared pool.
type cycle struct {
	pool [][]*request
	n    atomic.Uint64
}

func (c *cycle) next() []*request {
	return c.pool[(c.n.Add(1)-1)%uint64(len(c.pool))]
}

// once is a units that hands out each unit of its pool once.
type once struct {
	pool [][]*request
	n    atomic.Uint64
}

func (o *once) next() []*request {
	i := o.n.Add(1) - 1
	if i >= uint64(len(o.pool)) {
		return nil
	}
	return o.pool[i]
}

// client sends requests to one server over one keep-alive transport:
// HTTP/2 over TLS, as kube-apiserver calls webhooks, unless http1.
type client struct {
	srv   *server
	http  *http.Client
	bufs  sync.Pool
	proto atomic.Value // string: the protocol the server answered with
}

func newClient(srv *server, http1 bool, conns int) *client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   !http1,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	if http1 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	c := &client{srv: srv, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	c.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	return c
}

func (c *client) close() { c.http.CloseIdleConnections() }

// answer is the part of an AdmissionReview response the harness checks.
type answer struct {
	Response *struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
		Status  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

// errDenied marks an answer that refused a request the scenario expects
// to be admitted: the benchmark is then measuring the wrong thing.
var errDenied = errors.New("denied")

// send posts r and checks the answer: HTTP 200, an AdmissionReview
// response for this request's uid, and allowed.
func (c *client) send(ctx context.Context, r *request) error {
	n := c.srv.uid.Add(1)
	bp := c.bufs.Get().(*[]byte)
	body := r.withUID(*bp, n)
	defer func() { *bp = body; c.bufs.Put(bp) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.srv.url(r.webhook), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if c.proto.Load() == nil {
		c.proto.Store(resp.Proto)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s: %.200s", r.what, resp.Status, b)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil || a.Response == nil {
		return fmt.Errorf("%s: not an AdmissionReview answer: %.200s", r.what, b)
	}
	if a.Response.UID != r.uidString(n) {
		return fmt.Errorf("%s: answer for uid %q, sent %q", r.what, a.Response.UID, r.uidString(n))
	}
	if !a.Response.Allowed {
		msg := ""
		if a.Response.Status != nil {
			msg = a.Response.Status.Message
		}
		return fmt.Errorf("%w: %s: %s", errDenied, r.what, msg)
	}
	return nil
}

// tally collects one run's latencies and failures.
type tally struct {
	mu        sync.Mutex
	latencies []time.Duration // every request's
	ok        []time.Duration // the admitted requests'
	errors    int64
	denied    int64
	dropped   int64
	units     int64
	first     string
}

func (t *tally) record(d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latencies = append(t.latencies, d)
	if err == nil {
		t.ok = append(t.ok, d)
		return
	}
	if errors.Is(err, errDenied) {
		t.denied++
	} else {
		t.errors++
	}
	if t.first == "" {
		t.first = err.Error()
	}
}

func (t *tally) unitDone() {
	t.mu.Lock()
	t.units++
	t.mu.Unlock()
}

// closedLoop runs clients workers for d, each sending its next unit when
// its last one is answered. A worker stops early when work runs out.
func closedLoop(ctx context.Context, c *client, work units, clients int, d time.Duration) *tally {
	t := &tally{latencies: make([]time.Duration, 0, 1<<16)}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				u := work.next()
				if u == nil {
					return
				}
				for _, r := range u {
					start := time.Now()
					// The request runs to its end even when the phase ends
					// while it is in flight, so no request is cut short.
					err := c.send(context.WithoutCancel(ctx), r)
					t.record(time.Since(start), err)
				}
				t.unitDone()
			}
		}()
	}
	wg.Wait()
	return t
}

// drainGrace is how long an open-loop run waits, after its last start,
// for the answers still outstanding.
const drainGrace = 3 * time.Second

// maxInFlight bounds the open-loop's outstanding units: past it the
// server has fallen so far behind that the run is over; the units not yet
// started are counted as dropped.
const maxInFlight = 1024

// openLoop starts units at a fixed rate for d, whether or not earlier ones
// were answered, so queueing in the server shows as latency. rate is in
// requests per second; units start at rate / (requests per unit). A
// unit's first request is timed from its scheduled start (so a late
// scheduler or a full connection counts against the server, not hidden),
// the later ones of the same unit from when they were sent.
func openLoop(ctx context.Context, c *client, work units, rate float64, perUnit int, d time.Duration) *tally {
	t := &tally{latencies: make([]time.Duration, 0, int(rate*d.Seconds())+16)}
	interval := time.Duration(float64(time.Second) * float64(perUnit) / rate)
	start := time.Now()
	// A server that fell behind gets drainGrace after the last start to
	// answer; what it has not answered by then counts as an error.
	reqCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), start.Add(d+drainGrace))
	defer cancel()
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		u := work.next()
		if u == nil {
			break
		}
		if inFlight.Load() >= maxInFlight {
			// Hopelessly behind: the rest of the schedule is dropped
			// rather than piled onto the server's backlog.
			t.mu.Lock()
			t.dropped += int64((d - due.Sub(start)) / interval)
			t.mu.Unlock()
			break
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			for j, r := range u {
				begin := time.Now()
				if j == 0 {
					begin = due
				}
				err := c.send(reqCtx, r)
				t.record(time.Since(begin), err)
				if err != nil && reqCtx.Err() != nil {
					break
				}
			}
			t.unitDone()
		}()
	}
	wg.Wait()
	return t
}
