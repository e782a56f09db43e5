package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// statefulName is the StatefulSet of testStatefulSet.
const statefulName = "db"

// testStatefulSet: a StatefulSet's Pods inherit from the StatefulSet
// itself (there is no ReplicaSet between them): the deployer's StatefulSet
// of a signed, tested image is admitted and recorded, and the two Pods the
// statefulset controller creates (in parallel: with no nodes, an ordered
// rollout would wait forever for the first Pod to run) are judged
// inherited and pinned to the digest recorded for it.
func testStatefulSet(ctx context.Context, t *testing.T, e *env) {
	const replicas = 2
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  replicas: %[4]d
  podManagementPolicy: Parallel
  serviceName: %[2]s
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
      containers:
      - name: db
        image: %[3]s
`, enforced, statefulName, e.im.Ref(reportTag), replicas)
	r := e.c.Kubectl(ctx, harness.Deployer, manifest, "apply", "-f", "-")
	if r.Err != nil || strings.Contains(r.Stderr, "shipgate") {
		t.Fatalf("want the signed StatefulSet admitted without a word from shipgate:\n%s", r)
	}
	e.expect(admission("StatefulSet", enforced, statefulName, "admitted", harness.Deployer))
	for _, p := range waitPods(ctx, t, e, enforced, "app="+statefulName, replicas) {
		wantImage(t, p, e.im.Pinned(reportTag))
	}
	wantInherited(t, e, enforced, "Pod", statefulName+"-", replicas)
}
