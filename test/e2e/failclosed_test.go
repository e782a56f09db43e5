package e2e

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// webhookTimeout is the chart's timeoutSeconds.
const webhookTimeout = 5 * time.Second

// slack is what kubectl and the API server may add to the webhook timeout
// on two busy cores: starting kubectl, discovery, the request itself.
const slack = 4 * time.Second

// testFailClosed stops shipgate. With nothing listening, and then with a
// listener that accepts connections and never answers, a rollout in an
// enforced namespace is refused (failurePolicy Fail), within the webhook
// timeout, while kube-system, which the namespaceSelector leaves out, still
// takes writes at once.
func testFailClosed(ctx context.Context, t *testing.T, e *env) {
	if err := e.sg.Stop(); err != nil {
		t.Fatalf("stopping shipgate: %v", err)
	}
	t.Run("nothing listening", func(t *testing.T) {
		failsClosed(ctx, t, e, "closed", "connection refused")
	})
	t.Run("listening but never answering", func(t *testing.T) {
		stop, err := blackHole(e.sg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		failsClosed(ctx, t, e, "hung", "")
	})
}

// failsClosed applies a Deployment in the enforced namespace and one in
// kube-system, and checks the first is refused by the API server itself
// (it could not call the webhook) within the timeout, and the second is
// stored.
func failsClosed(ctx context.Context, t *testing.T, e *env, suffix, cause string) {
	name := "web-while-" + suffix
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, name, pinnedImage, 1), "apply", "-f", "-")
	if r.Err == nil {
		t.Fatalf("want refused with shipgate down:\n%s", r)
	}
	for _, want := range []string{"failed calling webhook", ".shipgate.dev", cause} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl's stderr lacks %q:\n%s", want, r)
		}
	}
	if r.Took > webhookTimeout+slack {
		t.Errorf("the refusal took %s, want within the webhook timeout %s (+%s for kubectl)", r.Took, webhookTimeout, slack)
	}
	wantNoDeployment(ctx, t, e.c, enforced, name)
	e.log.Printf("fail closed (%s): refused in %s: %s", suffix, r.Took.Round(time.Millisecond), strings.TrimSpace(r.Stderr))

	sys := e.c.Kubectl(ctx, harness.Admin, deployment("kube-system", "system-while-"+suffix, pinnedImage, 0), "apply", "-f", "-")
	if sys.Err != nil {
		t.Fatalf("want kube-system to take writes with shipgate down:\n%s", sys)
	}
	if sys.Took > slack {
		t.Errorf("kube-system's write took %s: the API server waited on shipgate", sys.Took)
	}
}

// blackHole listens on addr and holds every connection open without a
// byte: a webhook that hangs. stop closes it all.
func blackHole(addr string) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	return func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}, nil
}
