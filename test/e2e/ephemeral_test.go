package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// testEphemeral: the deployer adds a debugging container to one of the
// signed rollout's Pods with kubectl debug (the pods/ephemeralcontainers
// subresource, which the chart's webhook rules name). An image nobody
// signed is refused with shipgate's reason; a signed, tested one is
// admitted, and each is recorded as a change to that Pod.
func testEphemeral(ctx context.Context, t *testing.T, e *env) {
	if len(e.web.pods) == 0 {
		t.Fatal("no Pod to debug: testSignedRollout failed")
	}
	pod := e.web.pods[0]
	debug := func(container, image string) harness.Result {
		return e.c.Kubectl(ctx, harness.Deployer, "", "debug", "-n", enforced, "pod/"+pod,
			"--image="+image, "--container="+container, "--profile=general")
	}
	r := debug("debug-unsigned", e.im.Ref(debugUnsigned))
	wantRefused(t, r, "Pod", enforced, pod,
		`image "`+e.im.Ref(debugUnsigned)+`" (container debug-unsigned): not signed: no cosign signature found for `+e.im.Digest(debugUnsigned))
	e.expect(admission("Pod", enforced, pod, "denied", harness.Deployer))

	r = debug("debug-signed", e.im.Ref(debugSigned))
	if r.Err != nil {
		t.Fatalf("want the signed debugging container admitted:\n%s", r)
	}
	e.expect(admission("Pod", enforced, pod, "admitted", harness.Deployer))
	p, err := e.c.Admin.CoreV1().Pods(enforced).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].Name != "debug-signed" {
		t.Fatalf("Pod %s/%s has ephemeral containers %+v, want debug-signed alone", enforced, pod, p.Spec.EphemeralContainers)
	}
	// /mutate pins Pods on create and update, but leaves the
	// ephemeralcontainers subresource alone (webhook/mutate.go), so the
	// container keeps its tag: either form is the signed image now.
	switch got := p.Spec.EphemeralContainers[0].Image; got {
	case e.im.Pinned(debugSigned):
		e.log.Printf("the ephemeral container is pinned: %s", got)
	case e.im.Ref(debugSigned):
		e.log.Printf("the ephemeral container is not pinned: it runs %s, whatever the tag names when the kubelet pulls it", got)
	default:
		t.Errorf("the ephemeral container runs %s, want %s or %s", got, e.im.Ref(debugSigned), e.im.Pinned(debugSigned))
	}
}
