package server

import (
	"net"
	"net/http"
	"testing"
)

// TestDrainClosesOnlyConnectionsThatNeverCarriedARequest: once shutdown
// has begun, a connection going idle before its first request is closed
// (net/http would wait on it for the whole grace period); one that has
// carried a request, or any connection before shutdown, is left alone.
func TestDrainClosesOnlyConnectionsThatNeverCarriedARequest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		before, after []http.ConnState // the states reported before and after shutdown began
		closed        bool
	}{
		"an HTTP/2 connection set up during shutdown": {
			before: []http.ConnState{http.StateNew}, after: []http.ConnState{http.StateActive, http.StateIdle}, closed: true,
		},
		"an HTTP/2 connection set up before shutdown": {
			before: []http.ConnState{http.StateNew, http.StateActive, http.StateIdle}, closed: false,
		},
		"an HTTP/2 connection whose first stream ends during shutdown": {
			before: []http.ConnState{http.StateNew, http.StateActive, http.StateIdle}, after: []http.ConnState{http.StateActive, http.StateIdle}, closed: false,
		},
		"an HTTP/1.1 connection whose first answer is still being written": {
			before: []http.ConnState{http.StateNew}, after: []http.ConnState{http.StateActive}, closed: false,
		},
		"a connection drain never saw start": {
			after: []http.ConnState{http.StateActive, http.StateIdle}, closed: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &closeCounting{}
			var d drain
			for _, st := range tc.before {
				d.connState(c, st)
			}
			d.closing.Store(true)
			for _, st := range tc.after {
				d.connState(c, st)
			}
			if closed := c.closes > 0; closed != tc.closed {
				t.Errorf("closed = %v, want %v", closed, tc.closed)
			}
		})
	}
}

// closeCounting is a connection that only counts its closes.
type closeCounting struct {
	net.Conn
	closes int
}

func (c *closeCounting) Close() error { c.closes++; return nil }
