package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// drain closes, once shutdown has begun, each connection that goes idle
// having never carried a request. net/http's Shutdown sends an HTTP/2
// GOAWAY to the connections it knows when it starts, but one whose TLS
// handshake ends a moment later is never told, counts as active, and keeps
// Shutdown waiting for the whole grace period (idle HTTP/1.1 connections
// it closes itself). Frequent reconnects (capRequests) make that moment
// likelier. A connection that has carried a request is left to net/http:
// it sends a GOAWAY once the connection's last stream ends.
type drain struct {
	closing atomic.Bool
	conns   sync.Map // net.Conn → *atomic.Int32: how often it went active
}

// connState is the http.Server's ConnState hook. HTTP/2 reports a new
// connection active, then idle, before it reads a frame; HTTP/1.1 reports
// it active when its first request arrives and idle once the answer is
// written. Either way, a first idle during shutdown has nothing to lose.
func (d *drain) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		d.conns.Store(c, new(atomic.Int32))
	case http.StateActive:
		if n, ok := d.conns.Load(c); ok {
			n.(*atomic.Int32).Add(1)
		}
	case http.StateIdle:
		if n, ok := d.conns.Load(c); ok && d.closing.Load() && n.(*atomic.Int32).Load() <= 1 {
			_ = c.Close()
		}
	case http.StateClosed, http.StateHijacked:
		d.conns.Delete(c)
	}
}
