package e2e

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// Policy ConfigMaps: the label, the annotations and the Lease that
// policy/kube defines.
const (
	pcmLabel       = "shipgate.dev/policy"
	pcmStatus      = "shipgate.dev/policy-status"
	pcmRegoVersion = "shipgate.dev/rego-version"
	pcmLease       = "shipgate-policy-status"
)

// The namespaces of the policy ConfigMap scenarios: polA has its own
// policy, polB has none but the cluster's.
const (
	polA = "pol-a"
	polB = "pol-b"
)

// Messages the scenarios' policies deny with.
const (
	msgTeamLabel    = "every Deployment needs a team label"
	msgTeamLabelNew = "a Deployment without a team label is refused"
	msgReplicas     = "pol-a allows at most 3 replicas"
	msgReplicasNew  = "pol-a allows no more than 3 replicas"
	msgV0           = "pol-a (Rego v0): at most 4 replicas"
)

// baselineRego is cluster policy, from a ConfigMap in shipgate's
// namespace; the defaults bind it.
func baselineRego(msg string) string {
	return `package shipgate.baseline

deny contains "` + msg + `" if {
	input.request.kind.kind == "Deployment"
	not input.request.object.metadata.labels.team
}
`
}

// limitsRego is pol-a's own policy.
func limitsRego(msg string) string {
	return `package shipgate.namespaces["pol-a"]

deny contains "` + msg + `" if input.request.object.spec.replicas > 3
`
}

// pcmConfig is the chart's config for the scenarios: enforced everywhere,
// the baseline set bound by default, policy from ConfigMaps.
func pcmConfig() map[string]any {
	return map[string]any{
		"excludedNamespaces": []string{"kube-system", "kube-public", "kube-node-lease"},
		"defaults":           map[string]any{"mode": "enforce", "policies": []string{"baseline"}},
		"policies":           map[string]any{"configMaps": true},
		"auth":               map[string]any{"kubernetes": true},
	}
}

// TestPolicyConfigMaps runs the policy ConfigMap scenarios on their own
// control plane: shipgate with policies.configMaps, two replicas (the
// webhooks call the first; both load every ConfigMap, one holds the Lease
// and writes statuses), users applying Deployments and ConfigMaps with
// kubectl.
func TestPolicyConfigMaps(t *testing.T) {
	start := time.Now()
	ctx := t.Context()
	logger := log.New(os.Stderr, "e2e policy: ", log.Ltime|log.Lmicroseconds)
	c, err := harness.StartCluster(ctx, harness.Options{Dir: t.TempDir(), Log: logger})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the run (%s):\n%s", c.Dir, c.Logs(60))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
		logger.Printf("whole run took %s", time.Since(start).Round(time.Millisecond))
	})
	// Developers may edit workloads and ConfigMaps in any namespace (the
	// edit role), so they write their namespace's policy themselves.
	if _, err := c.MustKubectl(ctx, harness.Admin, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-pcm-developers-edit
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: `+harness.GroupDevelopers+`}
`, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{harness.Namespace, polA, polB} {
		if err := c.EnsureNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Cluster policy is there before shipgate starts: readiness waits for it.
	e := &pcmEnv{c: c, log: logger}
	e.apply(ctx, t, harness.Admin, harness.Namespace, "baseline", map[string]string{"baseline.rego": baselineRego(msgTeamLabel)})

	installStart := time.Now()
	if e.sg, err = c.InstallShipgate(ctx, harness.InstallOptions{Config: pcmConfig()}); err != nil {
		t.Fatalf("installing shipgate: %v", err)
	}
	if e.replica, err = e.sg.Replica(ctx, "shipgate-replica"); err != nil {
		t.Fatalf("starting a second replica: %v", err)
	}
	logger.Printf("shipgate and a second replica serving in %s", time.Since(installStart).Round(time.Millisecond))

	steps := []struct {
		name string
		run  func(context.Context, *testing.T, *pcmEnv)
	}{
		{"a cluster ConfigMap denies a Deployment", testClusterConfigMapDenies},
		{"a namespace ConfigMap adds a deny in its namespace only", testNamespaceConfigMapDenies},
		{"a namespace ConfigMap cannot loosen: another package, cluster rules", testNamespaceConfigMapRefused},
		{"a syntax error shows in its status; the others keep working", testConfigMapSyntaxError},
		{"edits apply without a restart", testConfigMapEdits},
		{"each status is written once per change, by the Lease holder", testStatusWrittenOnce},
		{"the Lease passes on when its holder is stopped, and when it is killed", testLeaseHandover},
	}
	for _, s := range steps {
		stepStart := time.Now()
		if !t.Run(s.name, func(t *testing.T) { s.run(t.Context(), t, e) }) {
			logger.Printf("step %q failed; shipgate's log:\n%s", s.name, e.c.Logs(30))
		}
		logger.Printf("step %q took %s", s.name, time.Since(stepStart).Round(time.Millisecond))
	}
}

// pcmEnv is what the policy ConfigMap scenarios share.
type pcmEnv struct {
	c       *harness.Cluster
	sg      *harness.Shipgate
	replica *harness.Shipgate
	log     *log.Logger
}

// testClusterConfigMapDenies: the baseline ConfigMap in shipgate's
// namespace, there before shipgate started, refuses an unlabelled
// Deployment; kubectl prints its message. Its status says it loaded.
func testClusterConfigMapDenies(ctx context.Context, t *testing.T, e *pcmEnv) {
	e.wantStatus(ctx, t, harness.Namespace, "baseline", "loaded: cluster revision ")
	r := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(polB, "no-team", nil, 1), "apply", "-f", "-")
	pcmWantRefused(t, r, polB, "no-team", msgTeamLabel)
	e.log.Printf("kubectl said: %s", strings.TrimSpace(r.Stderr))
}

// testNamespaceConfigMapDenies: the deployer writes pol-a's own policy, at
// most 3 replicas, and a tutorial-era rule in Rego v0 (chosen by the
// ConfigMap's annotation). In pol-a a 5-replica Deployment is refused with
// both messages; in pol-b with neither (other reasons refuse it there: no
// trust policy covers the image, which this suite leaves to the signing
// scenarios).
func testNamespaceConfigMapDenies(ctx context.Context, t *testing.T, e *pcmEnv) {
	e.apply(ctx, t, harness.Deployer, polA, "limits", map[string]string{"limits.rego": limitsRego(msgReplicas)})
	e.apply(ctx, t, harness.Deployer, polA, "tutorial", map[string]string{"tutorial.rego": `package shipgate.namespaces["pol-a"]

deny[msg] {
	input.request.object.spec.replicas > 4
	msg := "` + msgV0 + `"
}
`}, pcmRegoVersion, "v0")
	e.wantStatus(ctx, t, polA, "limits", "loaded: namespace revision ")
	e.wantStatus(ctx, t, polA, "tutorial", "loaded: namespace revision ")

	r := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(polA, "big", map[string]string{"team": "a"}, 5), "apply", "-f", "-")
	pcmWantRefused(t, r, polA, "big", msgReplicas)
	pcmWantRefused(t, r, polA, "big", msgV0)
	if strings.Contains(r.Stderr, msgTeamLabel) {
		t.Errorf("a labelled Deployment got the team label message:\n%s", r)
	}
	other := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(polB, "big", map[string]string{"team": "b"}, 5), "apply", "-f", "-")
	if other.Err == nil {
		t.Fatalf("want pol-b's Deployment refused (no trust policy), it was admitted:\n%s", other)
	}
	if strings.Contains(other.Stderr, msgReplicas) || strings.Contains(other.Stderr, msgV0) {
		t.Errorf("pol-a's policy judged a Deployment in pol-b:\n%s", other)
	}
}

// testNamespaceConfigMapRefused: pol-a's ConfigMaps that declare the
// cluster's package to empty its deny, declare another package, or read a
// cluster rule are refused, each status saying why with key and line; an
// "allow" in pol-b's own package loads and changes nothing. The cluster's
// denial stands in both namespaces, and pol-a's own policy still works.
func testNamespaceConfigMapRefused(ctx context.Context, t *testing.T, e *pcmEnv) {
	e.apply(ctx, t, harness.Deployer, polA, "override", map[string]string{
		"override.rego": "package shipgate.baseline\n\ndeny := set()\n"})
	e.apply(ctx, t, harness.Deployer, polA, "other-package", map[string]string{
		"admission.rego": "package kubernetes.admission\n\ndeny contains \"x\"\n"})
	e.apply(ctx, t, harness.Deployer, polA, "reader", map[string]string{
		"reader.rego": "package shipgate.namespaces[\"pol-a\"].reader\n\nimport data.shipgate.baseline\n\nallow if count(baseline.deny) == 0\n"})
	e.apply(ctx, t, harness.Deployer, polB, "allow", map[string]string{
		"allow.rego": "package shipgate.namespaces[\"pol-b\"]\n\nallow := true\n\ndefault deny := set()\n"})

	e.wantStatus(ctx, t, polA, "override", `error: override.rego:1: rego_compile_error: package data.shipgate.baseline is refused: the policy of namespace pol-a must be in package data.shipgate.namespaces["pol-a"] or below it; not in force`)
	e.wantStatus(ctx, t, polA, "other-package", `error: admission.rego:1: rego_compile_error: package data.kubernetes.admission is refused`)
	e.wantStatus(ctx, t, polA, "reader", `error: reader.rego:3: rego_compile_error: data.shipgate.baseline is refused: the policy of namespace pol-a may read only data below`)
	e.wantStatus(ctx, t, polB, "allow", "loaded: namespace revision ")
	e.wantStatus(ctx, t, polA, "limits", "loaded: namespace revision ")

	for _, ns := range []string{polA, polB} {
		r := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(ns, "still-no-team", nil, 5), "apply", "-f", "-")
		pcmWantRefused(t, r, ns, "still-no-team", msgTeamLabel)
		if ns == polA && !strings.Contains(r.Stderr, msgReplicas) {
			t.Errorf("pol-a's own policy stopped working:\n%s", r)
		}
	}
}

// testConfigMapSyntaxError: a ConfigMap with a syntax error at line 4 of
// its key broken.rego says so in its status; pol-a's other policy and the
// cluster's keep deciding.
func testConfigMapSyntaxError(ctx context.Context, t *testing.T, e *pcmEnv) {
	e.apply(ctx, t, harness.Deployer, polA, "broken", map[string]string{
		"broken.rego": "package shipgate.namespaces[\"pol-a\"]\n\n# a rule with no value\ndeny contains x if { x := }\n"})
	e.wantStatus(ctx, t, polA, "broken", "error: broken.rego:4: rego_parse_error: ", "; not in force")

	r := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(polA, "after-broken", nil, 5), "apply", "-f", "-")
	pcmWantRefused(t, r, polA, "after-broken", msgTeamLabel)
	if !strings.Contains(r.Stderr, msgReplicas) {
		t.Errorf("pol-a's limits stopped working beside a broken ConfigMap:\n%s", r)
	}
}

// testConfigMapEdits: editing the cluster's and pol-a's ConfigMaps changes
// the messages kubectl prints within seconds, and fixing the broken one
// loads it; the same shipgate process decides throughout.
func testConfigMapEdits(ctx context.Context, t *testing.T, e *pcmEnv) {
	started, err := e.sg.Metric(ctx, "process_start_time_seconds")
	if err != nil {
		t.Fatal(err)
	}
	e.apply(ctx, t, harness.Admin, harness.Namespace, "baseline", map[string]string{"baseline.rego": baselineRego(msgTeamLabelNew)})
	e.apply(ctx, t, harness.Deployer, polA, "limits", map[string]string{"limits.rego": limitsRego(msgReplicasNew)})
	e.apply(ctx, t, harness.Deployer, polA, "broken", map[string]string{
		"broken.rego": "package shipgate.namespaces[\"pol-a\"]\n\nwarn contains \"pol-a: fixed\"\n"})
	pcmEventually(ctx, t, "the edits deciding", 30*time.Second, func(ctx context.Context) error {
		r := e.c.Kubectl(ctx, harness.Deployer, pcmDeployment(polA, "after-edit", nil, 5), "apply", "-f", "-")
		for _, want := range []string{msgTeamLabelNew, msgReplicasNew} {
			if !strings.Contains(r.Stderr, want) {
				return fmt.Errorf("kubectl's stderr lacks %q:\n%s", want, r)
			}
		}
		for _, old := range []string{msgTeamLabel, msgReplicas} {
			if strings.Contains(r.Stderr, old) {
				return fmt.Errorf("kubectl's stderr still has %q", old)
			}
		}
		return nil
	})
	e.wantStatus(ctx, t, polA, "broken", "loaded: namespace revision ")
	now, err := e.sg.Metric(ctx, "process_start_time_seconds")
	if err != nil || now != started {
		t.Errorf("shipgate restarted: started at %v, now %v (%v)", started, now, err)
	}
}

// testStatusWrittenOnce: the Lease has a holder, and only that replica
// writes statuses. A new ConfigMap's status is written once, and once
// more when it changes: counted on a watch of the ConfigMap, where every
// write is an event, over quiet periods longer than anything periodic in
// shipgate.
func testStatusWrittenOnce(ctx context.Context, t *testing.T, e *pcmEnv) {
	lease, err := e.c.Admin.CoordinationV1().Leases(harness.Namespace).Get(ctx, pcmLease, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("Lease %s has no holder: %+v", pcmLease, lease.Spec)
	}

	cms := e.c.Admin.CoreV1().ConfigMaps(polB)
	cm := pcmConfigMap(polB, "counted", map[string]string{"counted.rego": "package shipgate.namespaces[\"pol-b\"].counted\n\nwarn contains \"one\"\n"})
	created, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=counted", ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const quiet = 6 * time.Second
	first := pcmWrites(t, w, quiet)
	if len(first) != 1 || !strings.HasPrefix(first[0], "loaded: ") {
		t.Errorf("after creating a ConfigMap, %d writes %q; want its status once", len(first), first)
	}

	latest, err := cms.Get(ctx, "counted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	latest.Data["counted.rego"] += "\nwarn contains \"two\"\n"
	if _, err := cms.Update(ctx, latest, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := pcmWrites(t, w, quiet)
	// The edit itself carries the old status; then shipgate's write.
	if len(second) != 2 || second[0] != first[0] || !strings.HasPrefix(second[1], "loaded: ") || second[1] == first[0] {
		t.Errorf("after one edit, writes %q; want the edit, then one new status", second)
	}

	leaders, writes := 0.0, map[string]float64{}
	for name, sg := range map[string]*harness.Shipgate{"first": e.sg, "replica": e.replica} {
		l, err := sg.Metric(ctx, "shipgate_policy_status_leader")
		if err != nil {
			t.Fatal(err)
		}
		n, err := sg.Metric(ctx, "shipgate_policy_status_writes_total")
		if err != nil {
			t.Fatal(err)
		}
		leaders += l
		writes[name] = n
		if l == 0 && n != 0 {
			t.Errorf("the %s replica does not hold the Lease but wrote %v statuses", name, n)
		}
	}
	if leaders != 1 {
		t.Errorf("%v replicas say they hold the Lease, want 1", leaders)
	}
	e.log.Printf("status writes per replica: %v; Lease holder %s", writes, *lease.Spec.HolderIdentity)
}

// testLeaseHandover: the Lease passes to the other replica when its holder
// goes. Stopped (SIGTERM), the holder gives the Lease up before it exits,
// and the other takes it at its next try; killed (SIGKILL), it gives up
// nothing, and the other takes the Lease once it has expired. Each time,
// the new holder writes the status of a ConfigMap created after the
// handover, and the old holder, started again, stands by. Both replicas
// are running again at the end.
func testLeaseHandover(ctx context.Context, t *testing.T, e *pcmEnv) {
	leases := e.c.Admin.CoordinationV1().Leases(harness.Namespace)
	holderOf := func(ctx context.Context) (string, error) {
		lease, err := leases.Get(ctx, pcmLease, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if lease.Spec.HolderIdentity == nil {
			return "", nil
		}
		return *lease.Spec.HolderIdentity, nil
	}
	for i, how := range []string{"stopped", "killed"} {
		holder, other := e.leaseHolder(ctx, t)
		was, err := holderOf(ctx)
		if err != nil || was == "" {
			t.Fatalf("the Lease names no holder: %q, %v", was, err)
		}
		writes, err := other.Metric(ctx, "shipgate_policy_status_writes_total")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if how == "stopped" {
			err = holder.Stop()
		} else {
			err = holder.Kill()
		}
		if err != nil {
			t.Fatal(err)
		}
		now, err := holderOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case how == "stopped" && now == was:
			t.Errorf("the stopped holder left the Lease naming it (%s): it should give the Lease up as it stops", was)
		case how == "killed" && now != was:
			t.Errorf("right after its holder was killed the Lease names %q, not the killed holder %q", now, was)
		}
		pcmEventually(ctx, t, "the other replica holding the Lease after its holder was "+how, 45*time.Second, func(ctx context.Context) error {
			if l, err := other.Metric(ctx, "shipgate_policy_status_leader"); err != nil || l != 1 {
				return fmt.Errorf("the other replica's shipgate_policy_status_leader is %v (%v)", l, err)
			}
			if id, err := holderOf(ctx); err != nil || id == was || id == "" {
				return fmt.Errorf("the Lease names %q (%v)", id, err)
			}
			return nil
		})
		took := time.Since(start)

		name := fmt.Sprintf("handover-%d", i)
		cm := pcmConfigMap(polB, name, map[string]string{name + ".rego": "package shipgate.namespaces[\"pol-b\"].handover" + fmt.Sprint(i) + "\n\nwarn contains \"" + name + "\"\n"})
		if _, err := e.c.Admin.CoreV1().ConfigMaps(polB).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.wantStatus(ctx, t, polB, name, "loaded: ")
		if after, err := other.Metric(ctx, "shipgate_policy_status_writes_total"); err != nil || after <= writes {
			t.Errorf("the new holder's status writes went from %v to %v (%v); want it to have written %s's status", writes, after, err, name)
		}
		if err := holder.Start(ctx); err != nil {
			t.Fatalf("starting the old holder again: %v", err)
		}
		e.log.Printf("holder %s: the other replica held the Lease %s later", how, took.Round(100*time.Millisecond))
	}
	// The restarted replica stands by: exactly one holder.
	e.leaseHolder(ctx, t)
}

// leaseHolder is the replica that says it holds the status Lease, and the
// other; the test fails unless, within the Lease's duration, exactly one
// says so.
func (e *pcmEnv) leaseHolder(ctx context.Context, t *testing.T) (holder, other *harness.Shipgate) {
	t.Helper()
	pcmEventually(ctx, t, "exactly one replica holding the Lease", 30*time.Second, func(ctx context.Context) error {
		holder, other = nil, nil
		for _, sg := range []*harness.Shipgate{e.sg, e.replica} {
			l, err := sg.Metric(ctx, "shipgate_policy_status_leader")
			if err != nil {
				return err
			}
			switch {
			case l == 1 && holder != nil:
				return errors.New("both replicas say they hold the Lease")
			case l == 1:
				holder = sg
			default:
				other = sg
			}
		}
		if holder == nil {
			return errors.New("neither replica holds the Lease")
		}
		return nil
	})
	return holder, other
}
