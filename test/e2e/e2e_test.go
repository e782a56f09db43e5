package e2e

import (
	"context"
	"log"
	"os"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// Namespaces the scenarios run in.
const (
	// enforced has no binding of its own: the defaults, mode enforce,
	// trusting the run's registry.
	enforced = "team-a"
	// warned matches the dev-* binding, mode warn.
	warned = "dev-team-a"
	// prod matches the prod-* binding (name and label env=prod): enforced,
	// and every rollout needs two approvers from release-managers.
	prod = "prod-payments"
)

// keysSecret holds the public keys of the trust policy, in shipgate's own
// namespace: the config names it with secretRef and the chart grants get
// on it (rbac.secrets).
const keysSecret = "shipgate-e2e-keys"

// trustPolicy names the trust policy for the run's registry.
const trustPolicy = "e2e-registry"

// gatewayConfig is the chart's `config:` value for the run: images of the
// run's registries (registryHosts: the open one, and the private one the
// pull-secret scenario uses) must be signed by the release key and carry a
// PASSED test result signed by the CI key, both public keys read from
// keysSecret; production namespaces need two approvers.
func gatewayConfig(registryHosts ...string) map[string]any {
	var trusted []string
	for _, h := range registryHosts {
		trusted = append(trusted, h+"/**")
	}
	keyRef := func(ns, key string) map[string]any {
		ref := map[string]any{"name": keysSecret, "key": key}
		if ns != "" {
			ref["namespace"] = ns
		}
		return map[string]any{"secretRef": ref}
	}
	return map[string]any{
		"excludedNamespaces": []string{"kube-system", "kube-public", "kube-node-lease"},
		"defaults":           map[string]any{"mode": "enforce", "trust": []string{trustPolicy}},
		"namespaces": []any{
			map[string]any{"match": map[string]any{"names": []string{"dev-*"}}, "mode": "warn"},
			expiringBinding(),
			map[string]any{
				"match": map[string]any{"names": []string{"prod-*"}, "labels": map[string]string{"env": "prod"}},
				"mode":  "enforce",
				"approval": map[string]any{
					"approvers":        2,
					"groups":           []string{harness.GroupReleaseManagers},
					"breakGlassGroups": []string{harness.GroupSREOncall},
					"expiry":           map[string]any{"pending": "72h", "approved": "24h", "breakGlass": "1h"},
				},
			},
		},
		"trust": []any{map[string]any{
			"name":   trustPolicy,
			"images": trusted,
			"signatures": map[string]any{"threshold": 1, "authorities": []any{
				// The namespace spelled out here, left to default (shipgate's
				// own) for the CI key.
				map[string]any{"name": "release-key", "key": keyRef(harness.Namespace, "release.pub")},
			}},
			"attestations": []any{map[string]any{
				"predicateType": harness.TestResultPredicateType,
				"authorities":   []any{map[string]any{"name": "ci-key", "key": keyRef("", "ci.pub")}},
			}},
		}},
		"auth": map[string]any{"kubernetes": true},
		// A signed checkpoint every 2s (the default is a minute), so the
		// auditor's verification through the API has one to check.
		"audit": map[string]any{"checkpointEvery": map[string]any{"interval": "2s"}},
		// Lapsed approvals are expired every second (the default is 30s).
		"approvals": map[string]any{"sweepInterval": sweepInterval.String()},
	}
}

// chartValues are the chart values beside config: get on the key Secret,
// and on the pull secrets of the private registry in the enforced
// namespace (the chart grants get on Secrets by name only).
func chartValues() map[string]any {
	return map[string]any{"rbac": map[string]any{"secrets": []any{
		map[string]any{"name": keysSecret},
		map[string]any{"name": pullSecret, "namespace": enforced},
		map[string]any{"name": stalePullSecret, "namespace": enforced},
	}}}
}

// TestE2E runs shipgate behind a real kube-apiserver: the control plane
// starts once and the scenarios run in order, each a subtest. Scenarios
// that need shipgate serving go before "fail closed", which stops it; the
// audit log is checked last, on the stopped store.
func TestE2E(t *testing.T) {
	start := time.Now()
	ctx := t.Context()
	logger := log.New(os.Stderr, "e2e: ", log.Ltime|log.Lmicroseconds)
	dir := t.TempDir()
	// cosign first: a missing or wrong one fails before anything starts.
	cs, err := harness.NewCosign(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := harness.StartCluster(ctx, harness.Options{Dir: dir, Log: logger})
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
	logger.Printf("control plane ready in %s", time.Since(start).Round(time.Millisecond))

	phase := time.Now()
	reg, err := c.StartRegistry(ctx)
	if err != nil {
		t.Fatalf("starting the registry: %v", err)
	}
	logger.Printf("docker-registry serving http://%s in %s", reg.Host, time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	im, err := pushAndSign(ctx, cs, reg, logger.Printf)
	if err != nil {
		t.Fatalf("pushing and signing the images: %v", err)
	}
	logger.Printf("images pushed, signed and attested in %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	priv, err := pushAndSignPrivate(ctx, c, cs, im)
	if err != nil {
		t.Fatalf("the private registry: %v", err)
	}
	logger.Printf("private docker-registry (htpasswd) serving http://%s; %s pushed, signed and attested in %s",
		priv.reg.Host, privateTag, time.Since(phase).Round(time.Millisecond))

	if err := grantUsers(ctx, c); err != nil {
		t.Fatal(err)
	}
	for ns, labels := range map[string]map[string]string{enforced: nil, warned: nil, prod: {"env": "prod"}, expiring: {"env": "prod"}} {
		if err := c.EnsureNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
	}
	if err := storeKeys(ctx, c, im); err != nil {
		t.Fatal(err)
	}
	installStart := time.Now()
	sg, err := c.InstallShipgate(ctx, harness.InstallOptions{Config: gatewayConfig(reg.Host, priv.reg.Host), Values: chartValues()})
	if err != nil {
		t.Fatalf("installing shipgate: %v", err)
	}
	logger.Printf("shipgate installed and serving in %s", time.Since(installStart).Round(time.Millisecond))
	e := &env{c: c, sg: sg, log: logger, reg: reg, im: im, priv: priv}

	steps := []struct {
		name string
		run  func(context.Context, *testing.T, *env)
	}{
		{"enforced namespace refuses a latest image", testRefusesLatest},
		{"server-side dry run is refused the same way", testDryRunRefused},
		{"warn namespace admits with shipgate's warnings", testWarnMode},
		{"controllers' ReplicaSet and Pods pass the webhooks", testControllerObjects},
		{"kube-system is not judged", testKubeSystemNotJudged},
		{"a signed CronJob is admitted; its schedule starts", testCronJobAdmitted},
		{"a signed, tested Deployment is admitted; its ReplicaSet and Pods inherit, pinned", testSignedRollout},
		{"a StatefulSet's Pods inherit, pinned", testStatefulSet},
		{"unsigned, latest and FAILED images are refused with shipgate's reasons", testRefusals},
		{"server-side dry runs leave no record and no approval request", testDryRunsLeaveNothing},
		{"the tag moves mid-rollout; a scale-up's Pods run the recorded digest", testTagMoves},
		{"a Pod claiming the ReplicaSet, created by the deployer, is judged as a bare Pod", testBarePodClaimingOwner},
		{"kubectl debug: an unsigned ephemeral container is refused, a signed one admitted", testEphemeral},
		{"a production rollout waits for two approvals", testApprovals},
		{"a production rollout whose approval lives 20s is admitted", testApprovedThenExpiring},
		{"the CronJob's Job and Pods inherit; a Job made from it by hand is a bare Job", testCronJobInherits},
		{"an auditor reads the log through the API", testAuditAPI},
		{"a private registry: refused without pull secrets, admitted with the Pod's or its service account's", testPullSecrets},
		{"after its approval expired, a scale-up works: inherited, no record, no new request", testScaleAfterExpiry},
		{"every rendered chart object passes server-side dry run", testChartDryRun},
		{"fail closed", testFailClosed},
		{"audit log holds exactly the expected records and verifies", testAuditVerifies},
	}
	for _, s := range steps {
		stepStart := time.Now()
		t.Run(s.name, func(t *testing.T) { s.run(t.Context(), t, e) })
		logger.Printf("step %q took %s", s.name, time.Since(stepStart).Round(time.Millisecond))
	}
}

// env is what the scenarios share.
type env struct {
	c   *harness.Cluster
	sg  *harness.Shipgate
	log *log.Logger
	reg *harness.Registry
	im  *images
	// priv is the private registry's image (htpasswd auth), signed and
	// attested with im's keys.
	priv *images

	// want is every record the scenarios expect in the audit log.
	want []wantRecord
	// prodApproval is the approval request of the production rollout.
	prodApproval string
	// web is what testSignedRollout saw the controllers make.
	web struct {
		rs, rsUID string
		pods      []string
	}
	// expiring is what testApprovedThenExpiring left for
	// testScaleAfterExpiry: the approval request, when it lapses, and the
	// rollout's ReplicaSet.
	expiring struct {
		approval  string
		expiresAt time.Time
		rs        string
	}
}

// grantUsers gives the token file's people their cluster rights: everyone
// who deploys may edit workloads anywhere and add ephemeral containers
// (kubectl debug; edit does not grant it), the auditor may read and query
// the audit API, and the release managers may read and vote on approvals in
// the production namespaces (docs/approvals.md). The deployer has no right on
// approvals at all.
func grantUsers(ctx context.Context, c *harness.Cluster) error {
	bindings := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-developers-edit
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupDevelopers + `}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-auditors-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupAuditors + `}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: e2e-debugger
rules:
- apiGroups: [""]
  resources: [pods/ephemeralcontainers]
  verbs: [get, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-developers-debug
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-debugger}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupDevelopers + `}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: shipgate-auditor
rules:
- apiGroups: [shipgate.dev]
  resources: [auditevents]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-auditors-shipgate
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: shipgate-auditor}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupAuditors + `}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: shipgate-approver
rules:
- apiGroups: [shipgate.dev]
  resources: [approvals]
  verbs: [get, list, approve, reject]
`
	// Both production namespaces, where release managers approve.
	for _, ns := range []string{prod, expiring} {
		if err := c.EnsureNamespace(ctx, ns, map[string]string{"env": "prod"}); err != nil {
			return err
		}
		bindings += `---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: e2e-release-managers-approve
  namespace: ` + ns + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: shipgate-approver}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ` + harness.GroupReleaseManagers + `}
`
	}
	_, err := c.MustKubectl(ctx, harness.Admin, bindings, "apply", "-f", "-")
	return err
}

// storeKeys puts the release and CI public keys into keysSecret, where the
// trust policy's secretRefs point.
func storeKeys(ctx context.Context, c *harness.Cluster, im *images) error {
	if err := c.EnsureNamespace(ctx, harness.Namespace, nil); err != nil {
		return err
	}
	_, err := c.MustKubectl(ctx, harness.Admin, "", "create", "secret", "generic", keysSecret, "-n", harness.Namespace,
		"--from-file=release.pub="+im.release.Pub, "--from-file=ci.pub="+im.ci.Pub)
	return err
}
