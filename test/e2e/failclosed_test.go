package e2e

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	wantFailClosedRegistration(ctx, t, e)
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
		apiServerWaits(ctx, t, e)
	})
}

// apiServerSlack is what the API server may take beyond the webhook
// timeout to answer, on two busy cores.
const apiServerSlack = 2 * time.Second

// apiServerWaits times a create through client-go, without kubectl's own
// start-up in the figure: with the webhook hanging, the API server gives
// up after the webhook timeout and refuses, no sooner and not much later.
func apiServerWaits(ctx context.Context, t *testing.T, e *env) {
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-while-hung-client-go", Namespace: enforced},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web-while-hung-client-go"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web-while-hung-client-go"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: pinnedImage}}},
			},
		},
	}
	start := time.Now()
	_, err := e.c.Admin.AppsV1().Deployments(enforced).Create(ctx, d, metav1.CreateOptions{})
	took := time.Since(start)
	if err == nil {
		t.Fatalf("want the create refused with the webhook hanging; it was stored")
	}
	if !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("the create failed with %v, want the API server's failed calling webhook", err)
	}
	if took < webhookTimeout-500*time.Millisecond || took > webhookTimeout+apiServerSlack {
		t.Errorf("the API server answered in %s, want the webhook timeout %s (+%s)", took, webhookTimeout, apiServerSlack)
	}
	e.log.Printf("fail closed (hung, client-go): the API server refused in %s", took.Round(time.Millisecond))
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

// wantFailClosedRegistration checks what the API server holds of both
// webhook configurations the chart registered: each webhook fails closed,
// gives up after the webhook timeout and leaves kube-system out. The
// refusals below come from the mutating webhook, called first; this is
// what says the validating one would refuse too.
func wantFailClosedRegistration(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	check := func(kind, name string, policy *admissionregistrationv1.FailurePolicyType, timeout *int32, sel *metav1.LabelSelector) {
		t.Helper()
		if policy == nil || *policy != admissionregistrationv1.Fail {
			t.Errorf("%s webhook %s: failurePolicy %v, want Fail", kind, name, policy)
		}
		if timeout == nil || time.Duration(*timeout)*time.Second != webhookTimeout {
			t.Errorf("%s webhook %s: timeoutSeconds %v, want %s", kind, name, timeout, webhookTimeout)
		}
		excluded := false
		if sel == nil {
			sel = &metav1.LabelSelector{}
		}
		for _, r := range sel.MatchExpressions {
			if r.Key == "kubernetes.io/metadata.name" && r.Operator == metav1.LabelSelectorOpNotIn && slices.Contains(r.Values, "kube-system") {
				excluded = true
			}
		}
		if !excluded {
			t.Errorf("%s webhook %s: namespaceSelector %v does not leave kube-system out", kind, name, sel)
		}
	}
	reg := e.c.Admin.AdmissionregistrationV1()
	hooks := 0
	for _, o := range e.sg.Manifest.Select("MutatingWebhookConfiguration") {
		m, err := reg.MutatingWebhookConfigurations().Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range m.Webhooks {
			hooks++
			check("mutating", w.Name, w.FailurePolicy, w.TimeoutSeconds, w.NamespaceSelector)
		}
	}
	for _, o := range e.sg.Manifest.Select("ValidatingWebhookConfiguration") {
		v, err := reg.ValidatingWebhookConfigurations().Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range v.Webhooks {
			hooks++
			check("validating", w.Name, w.FailurePolicy, w.TimeoutSeconds, w.NamespaceSelector)
		}
	}
	if hooks != 2 {
		t.Errorf("the chart registered %d webhooks, want 2 (mutate and validate)", hooks)
	}
}
