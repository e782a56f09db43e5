package webhook

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/audit"
)

// coalescer folds repeated identical denials — the same requester, object
// and reasons, as a controller's retry loop produces — into one audit
// record per window that carries their count and the first and last time
// seen. The first denial of a window opens it; the record is appended when
// the window closes (or the gateway shuts down).
type coalescer struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	pending map[[32]byte]*audit.Record
}

// denialKey identifies "the same denied request".
func denialKey(r *audit.Record) [32]byte {
	h := sha256.New()
	for _, s := range []string{r.User.Username, r.Operation, r.Kind, r.Namespace, r.Name, strings.Join(r.Reasons, "\x00")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// add counts a denial in its window.
func (c *coalescer) add(rec audit.Record) {
	now := c.now().UTC()
	k := denialKey(&rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[k]; ok {
		p.Count++
		p.LastSeen = now
		return
	}
	rec.RequestUID = "" // one record stands for many requests
	rec.Count, rec.FirstSeen, rec.LastSeen = 1, now, now
	c.pending[k] = &rec
}

// due takes the records whose window has closed (all of them when all).
func (c *coalescer) due(all bool) []audit.Record {
	cutoff := c.now().UTC().Add(-c.window)
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []audit.Record
	for k, p := range c.pending {
		if all || !p.FirstSeen.After(cutoff) {
			out = append(out, *p)
			delete(c.pending, k)
		}
	}
	slices.SortFunc(out, func(a, b audit.Record) int { return a.FirstSeen.Compare(b.FirstSeen) })
	return out
}

// WithDenialWindow coalesces identical denials within window into one
// record (see coalescer). The AuditRecorder's Run must be running to write
// them out. Zero records every denial on its own.
func WithDenialWindow(window time.Duration) AuditOption {
	return func(r *AuditRecorder) {
		if window > 0 {
			r.coalesce = &coalescer{window: window, now: time.Now, pending: map[[32]byte]*audit.Record{}}
		}
	}
}

// Run appends coalesced denials as their windows close, and all of them
// when ctx ends. It returns after that last flush.
func (r *AuditRecorder) Run(ctx context.Context) error {
	if r.coalesce == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(r.coalesce.window / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return r.Flush(context.WithoutCancel(ctx), true)
		case <-t.C:
			if err := r.Flush(ctx, false); err != nil {
				r.logErr(err)
			}
		}
	}
}

// Flush appends the coalesced denials whose window closed (all of them
// when all). A record that cannot be appended is counted again in a new
// window, so it is retried rather than lost.
func (r *AuditRecorder) Flush(ctx context.Context, all bool) error {
	if r.coalesce == nil {
		return nil
	}
	var firstErr error
	for _, rec := range r.coalesce.due(all) {
		if _, err := r.log.Append(ctx, rec); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			r.coalesce.mu.Lock()
			k := denialKey(&rec)
			if p, ok := r.coalesce.pending[k]; ok {
				p.Count += rec.Count
				p.FirstSeen = rec.FirstSeen
			} else {
				r.coalesce.pending[k] = &rec
			}
			r.coalesce.mu.Unlock()
		}
	}
	return firstErr
}
