package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// Object names of the signing scenarios.
const (
	// signedName is the signed rollout in the enforced namespace.
	signedName = "web"
	// signedReplicas is its scale before testTagMoves scales it up.
	signedReplicas = 2
	scaledReplicas = 4
)

// testSignedRollout: the deployer applies a Deployment of a signed image
// whose tests passed, by tag, in an enforced namespace. It is admitted and
// recorded once. kube-controller-manager makes its ReplicaSet and Pods as
// its own service accounts; shipgate judges them inherited (its log says
// so, and they leave no audit record) and /mutate pins every Pod to the
// digest that was signed, repo:tag@sha256:….
func testSignedRollout(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, signedName, e.im.Ref(webTag), signedReplicas), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the signed, tested Deployment admitted:\n%s", r)
	}
	if strings.Contains(r.Stderr, "shipgate") {
		t.Errorf("shipgate warned about a signed, tested rollout:\n%s", r)
	}
	e.expect(admission("Deployment", enforced, signedName, "admitted", harness.Deployer))

	pods := waitPods(ctx, t, e, enforced, "app="+signedName, signedReplicas)
	rs := oneReplicaSet(ctx, t, e, enforced, signedName)
	e.web.rs, e.web.rsUID = rs.Name, string(rs.UID)
	for _, p := range pods {
		e.web.pods = append(e.web.pods, p.Name)
		wantImage(t, p, e.im.Pinned(webTag))
	}
	wantInherited(t, e, enforced, "ReplicaSet", signedName+"-", 1)
	wantInherited(t, e, enforced, "Pod", rs.Name+"-", signedReplicas)
	e.log.Printf("Pods of %s/%s run %s", enforced, signedName, e.im.Pinned(webTag))
}

// testTagMoves: someone pushes an unsigned rebuild over the tag the
// rollout named. The deployer scales the Deployment up with kubectl scale
// (a scale is not a rollout: nothing is verified or recorded), and the
// Pods the ReplicaSet controller adds run the digest recorded when the
// rollout was admitted, not the one the tag names now.
func testTagMoves(ctx context.Context, t *testing.T, e *env) {
	moved, err := e.reg.Push(ctx, webTag)
	if err != nil {
		t.Fatal(err)
	}
	if now, err := e.reg.Digest(ctx, webTag); err != nil || now != moved || now == e.im.Digest(webTag) {
		t.Fatalf("after the push %s names %s (%v); want %s, not the signed %s", e.im.Ref(webTag), now, err, moved, e.im.Digest(webTag))
	}
	e.im.digests[movedWeb] = moved
	e.log.Printf("%s moved from %s to %s", e.im.Ref(webTag), e.im.Digest(webTag), moved)

	scaleQuietly(ctx, t, e, enforced, signedName, scaledReplicas, webTag, e.web.rs, "")
}

// scaleQuietly scales Deployment ns/name to n replicas as the deployer and
// wants it allowed without a word from shipgate (when is said in the
// failure), its n Pods pinned to the digest recorded for tag, and each
// logged as inherited from ReplicaSet rs.
func scaleQuietly(ctx context.Context, t *testing.T, e *env, ns, name string, n int, tag, rs, when string) {
	t.Helper()
	r := e.c.Kubectl(ctx, harness.Deployer, "", "scale", "-n", ns, "deployment/"+name, fmt.Sprintf("--replicas=%d", n))
	if r.Err != nil || strings.Contains(r.Stderr, "shipgate") {
		t.Fatalf("want the scale allowed without a word from shipgate%s:\n%s", when, r)
	}
	for _, p := range waitPods(ctx, t, e, ns, "app="+name, n) {
		wantImage(t, p, e.im.Pinned(tag))
	}
	wantInherited(t, e, ns, "Pod", rs+"-", n)
}

// movedWeb is the key, in images.digests, of the unsigned rebuild pushed
// over webTag.
const movedWeb = "moved " + webTag

// testBarePodClaimingOwner: the deployer creates Pods whose controller
// ownerReference names the Deployment's ReplicaSet (its real name and
// uid). They are not the ReplicaSet controller's, so shipgate judges them
// as bare Pods, rollouts of their own: one by the tag, which now names the
// unsigned rebuild, is refused (an inherited Pod would have been pinned to
// the recorded digest), and one pinned to the signed digest is admitted and
// recorded (an inherited Pod leaves no record). Their labels do not match
// the ReplicaSet's selector, so its controller leaves the scale alone; it
// releases them in its own time (an update removing the ownerReference,
// which shipgate ignores).
func testBarePodClaimingOwner(ctx context.Context, t *testing.T, e *env) {
	if e.web.rs == "" {
		t.Fatal("no ReplicaSet: testSignedRollout failed")
	}
	const unsigned, signed = "web-claimed-unsigned", "web-claimed-signed"
	r := e.c.Kubectl(ctx, harness.Deployer, ownedPod(enforced, unsigned, e.im.Ref(webTag), e.web.rs, e.web.rsUID), "apply", "-f", "-")
	wantRefused(t, r, "Pod", enforced, unsigned, "not signed: no cosign signature found for "+e.im.Digest(movedWeb))
	e.expect(admission("Pod", enforced, unsigned, "denied", harness.Deployer))
	if l, err := e.sg.Decision(decisionID(r.Stderr)); err != nil || l.Class != "rollout" {
		t.Errorf("shipgate's log of the refusal: class %q (%v), want rollout", l.Class, err)
	}

	r = e.c.Kubectl(ctx, harness.Deployer, ownedPod(enforced, signed, e.im.Pinned(webTag), e.web.rs, e.web.rsUID), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the Pod pinned to the signed digest admitted:\n%s", r)
	}
	e.expect(admission("Pod", enforced, signed, "admitted", harness.Deployer))
	wantRolloutAdmitted(t, e, "Pod", enforced, signed)
}

// ownedPod is a Pod whose controller ownerReference names a ReplicaSet.
func ownedPod(ns, name, image, rs, rsUID string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
  namespace: %[1]s
  labels: {app: %[2]s}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: %[4]s, uid: %[5]s, controller: true}
spec:
  containers:
  - name: web
    image: %[3]s
`, ns, name, image, rs, rsUID)
}

// waitPods waits until exactly n Pods match the selector and returns them.
func waitPods(ctx context.Context, t *testing.T, e *env, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(ctx, t, fmt.Sprintf("%d Pods %s in %s", n, selector, ns), 60*time.Second, func(ctx context.Context) error {
		l, err := e.c.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if len(l.Items) != n {
			return fmt.Errorf("%d Pods, want %d", len(l.Items), n)
		}
		pods = l.Items
		return nil
	})
	return pods
}

// wantImage checks a Pod's one container runs image.
func wantImage(t *testing.T, p corev1.Pod, image string) {
	t.Helper()
	if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != image {
		t.Errorf("Pod %s/%s runs %v, want %s", p.Namespace, p.Name, containerImages(p.Spec.Containers), image)
	}
}

func containerImages(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Image
	}
	return out
}

// wantInherited checks shipgate's log holds at least n admitted decisions
// judged inherited of kind in ns whose names start with prefix (at least:
// the API server may call /validate again for a request it retries).
func wantInherited(t *testing.T, e *env, ns, kind, prefix string, n int) {
	t.Helper()
	lines := e.sg.Decisions(func(l harness.LogLine) bool {
		return l.Kind == kind && l.Namespace == ns && strings.HasPrefix(l.Name, prefix) &&
			l.Class == "inherited" && l.Verdict == "admitted"
	})
	if len(lines) < n {
		t.Errorf("shipgate logged %d admitted, inherited decisions of %s %s/%s…, want %d", len(lines), kind, ns, prefix, n)
	}
}

// wantRolloutAdmitted checks shipgate logged the object's decisions as an
// admitted rollout (a request the API server retried is logged twice).
// Later changes that are neither rollout nor inherited are left out: the
// ReplicaSet controller releasing a Pod whose labels its selector does not
// match (it removes the ownerReference) is one, logged "ignore" whenever
// the controller gets to it.
func wantRolloutAdmitted(t *testing.T, e *env, kind, ns, name string) {
	t.Helper()
	lines := e.sg.Decisions(func(l harness.LogLine) bool {
		return l.Kind == kind && l.Namespace == ns && l.Name == name && l.Class != "ignore"
	})
	if len(lines) == 0 {
		t.Errorf("shipgate logged no decision of %s %s/%s", kind, ns, name)
	}
	for _, l := range lines {
		if l.Class != "rollout" || l.Verdict != "admitted" {
			t.Errorf("shipgate's log of %s %s/%s: %+v; want an admitted rollout", kind, ns, name, l)
		}
	}
}

// decisionID is the id in a denial's "(decision ID)".
func decisionID(msg string) string {
	_, after, ok := strings.Cut(msg, "(decision ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(after, ")")
	return id
}

// oneReplicaSet is the one ReplicaSet of a Deployment (by its app label).
func oneReplicaSet(ctx context.Context, t *testing.T, e *env, ns, app string) appsv1.ReplicaSet {
	t.Helper()
	l, err := e.c.Admin.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 {
		t.Fatalf("%d ReplicaSets of %s/%s, want 1", len(l.Items), ns, app)
	}
	return l.Items[0]
}
