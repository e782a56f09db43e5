package server

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// connRequestsKey keys the request counter of a connection in its context.
type connRequestsKey struct{}

// countRequests is the http.Server's ConnContext: it gives each accepted
// connection a request counter, which every request on it (each HTTP/2
// stream) finds in its context.
func countRequests(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connRequestsKey{}, new(atomic.Int64))
}

// capRequests closes a connection gracefully once it has carried max()
// requests: the answer to the last one says "Connection: close", which
// net/http turns into closing an HTTP/1.1 connection after the answer and,
// on HTTP/2, into a GOAWAY. Requests already received on the connection
// are still answered; a client (the API server's Go transport) sends the
// next ones on a new connection, which the Service may route to another
// replica. An API server holds one connection per webhook open for as long
// as it can, so without this one replica would take all its load. max is
// read per request (a configuration reload applies at once); zero or less
// never closes.
func capRequests(next http.Handler, max func() int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := r.Context().Value(connRequestsKey{}).(*atomic.Int64); ok {
			if limit := max(); limit > 0 && n.Add(1) >= int64(limit) {
				w.Header().Set("Connection", "close")
			}
		}
		next.ServeHTTP(w, r)
	})
}
