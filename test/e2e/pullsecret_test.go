package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// The private registry's scenario.
const (
	// privateTag is signed by the release key and its tests PASSED (CI
	// key), in the private registry, which refuses anonymous access.
	privateTag = "team-a/ledger:1.0.0"
	// privateUser is the private registry's one htpasswd user.
	privateUser = "e2e-puller"
	// pullSecret is the kubernetes.io/dockerconfigjson Secret with the
	// private registry's credentials, in the enforced namespace. The chart
	// grants shipgate get on it by name (rbac.secrets in chartValues).
	pullSecret = "shipgate-e2e-regcred"
	// stalePullSecret holds the private registry's user with a password
	// the registry no longer takes, as after a rotation; the chart grants
	// get on it too.
	stalePullSecret = "shipgate-e2e-regcred-stale"
	// pullSecretsTTL is how long shipgate keeps the keychain it built for
	// a namespace, service account and pull-secret list (signer.PullSecrets).
	pullSecretsTTL = time.Minute
)

// pushAndSignPrivate starts the private registry (docker-registry with
// htpasswd basic auth), checks it refuses anonymous access, pushes
// privateTag with crane as its user, and signs and attests it with the
// cosign CLI, which reads the credentials from a Docker config of its own
// (DOCKER_CONFIG), with the release and CI keys of im; cosign verify checks
// it reads back. The images it returns are that registry's.
func pushAndSignPrivate(ctx context.Context, c *harness.Cluster, cs *harness.Cosign, im *images) (*images, error) {
	reg, err := c.StartPrivateRegistry(ctx, "registry-private", privateUser)
	if err != nil {
		return nil, fmt.Errorf("starting it: %w", err)
	}
	if code, err := reg.AnonymousStatus(ctx); err != nil || code != http.StatusUnauthorized {
		return nil, fmt.Errorf("anonymous GET http://%s/v2/ answered %d (%v), want 401", reg.Host, code, err)
	}
	priv := &images{reg: reg, release: im.release, ci: im.ci, digests: map[string]string{}}
	if priv.digests[privateTag], err = reg.Push(ctx, privateTag); err != nil {
		return nil, err
	}
	dockerConfig := filepath.Join(cs.Dir, "docker-private")
	if err := reg.WriteDockerConfig(dockerConfig); err != nil {
		return nil, err
	}
	pcs := cs.WithDockerConfig(dockerConfig)
	ref := priv.byDigest(privateTag)
	passed := testResult("PASSED", []string{"TestLedgerBalances"}, nil)
	if err := runAll(2, 2, func(i int) error {
		if i == 0 {
			return pcs.Sign(ctx, priv.release, ref)
		}
		return pcs.Attest(ctx, priv.ci, harness.TestResultPredicateType, passed, ref)
	}); err != nil {
		return nil, fmt.Errorf("signing and attesting %s: %w", ref, err)
	}
	if err := pcs.Verify(ctx, priv.release, ref); err != nil {
		return nil, fmt.Errorf("cosign does not verify what it signed in the private registry: %w", err)
	}
	return priv, nil
}

// testPullSecrets: the image lives in a registry that refuses anonymous
// access, and shipgate has no registry credentials of its own, so it reads
// the ones the kubelet would use, through the API server. The deployer
// applies a Deployment of the signed, tested private image with no pull
// secret anywhere: refused, and kubectl says the registry refused access.
// They create a kubernetes.io/dockerconfigjson Secret with the credentials
// and name it in the Deployment's imagePullSecrets: admitted, its Pods pinned
// to the signed digest. Then the namespace's default ServiceAccount gets the
// Secret in its imagePullSecrets, and a Deployment with no pull secrets of
// its own is admitted (within the minute shipgate may keep the keychain it
// built before, probed with server-side dry runs, which leave no record).
func testPullSecrets(ctx context.Context, t *testing.T, e *env) {
	if e.priv == nil {
		t.Fatal("no private registry")
	}
	host, ref := e.priv.reg.Host, e.priv.Ref(privateTag)
	refused := "registry " + host + " refused access (401)"

	const anonymous = "ledger-no-pull-secret"
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, anonymous, ref, 1), "apply", "-f", "-")
	wantRefused(t, r, "Deployment", enforced, anonymous, refused+": check the pull secrets or registry credentials")
	e.expect(admission("Deployment", enforced, anonymous, "denied", harness.Deployer))
	wantNoDeployment(ctx, t, e.c, enforced, anonymous)
	e.log.Printf("kubectl said: %s", strings.TrimSpace(r.Stderr))

	// The Secret as `kubectl create secret docker-registry` makes it, given
	// on stdin so the password is in no command line.
	cfg, err := e.priv.reg.DockerConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	applySecret := func(name string, cfg []byte) {
		t.Helper()
		secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: %s
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: %s
`, name, enforced, base64.StdEncoding.EncodeToString(cfg))
		if _, err := e.c.MustKubectl(ctx, harness.Deployer, secret, "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
	}
	applySecret(pullSecret, cfg)

	const podSecret = "ledger-pull-secret"
	r = e.c.Kubectl(ctx, harness.Deployer, withPullSecrets(deployment(enforced, podSecret, ref, 1), pullSecret), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the Deployment naming pull secret %s admitted:\n%s", pullSecret, r)
	}
	if strings.Contains(r.Stderr, "shipgate") {
		t.Errorf("shipgate warned about a signed, tested rollout:\n%s", r)
	}
	e.expect(admission("Deployment", enforced, podSecret, "admitted", harness.Deployer))
	wantRolloutAdmitted(t, e, "Deployment", enforced, podSecret)
	for _, p := range waitPods(ctx, t, e, enforced, "app="+podSecret, 1) {
		wantImage(t, p, e.priv.Pinned(privateTag))
	}

	// A stale secret named before the current one: the registry refuses
	// the first credentials, and shipgate tries the next, as the kubelet
	// does.
	stale := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":"rotated-out"}}}`, host, privateUser)
	applySecret(stalePullSecret, []byte(stale))
	const staleFirst = "ledger-stale-pull-secret-first"
	r = e.c.Kubectl(ctx, harness.Deployer, withPullSecrets(deployment(enforced, staleFirst, ref, 1), stalePullSecret, pullSecret), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the Deployment naming a stale pull secret before %s admitted:\n%s", pullSecret, r)
	}
	e.expect(admission("Deployment", enforced, staleFirst, "admitted", harness.Deployer))
	wantRolloutAdmitted(t, e, "Deployment", enforced, staleFirst)
	for _, p := range waitPods(ctx, t, e, enforced, "app="+staleFirst, 1) {
		wantImage(t, p, e.priv.Pinned(privateTag))
	}
	// The stale secret alone is refused, in so many words.
	const staleOnly = "ledger-stale-pull-secret"
	r = e.c.Kubectl(ctx, harness.Deployer, withPullSecrets(deployment(enforced, staleOnly, ref, 1), stalePullSecret), "apply", "-f", "-")
	wantRefused(t, r, "Deployment", enforced, staleOnly, refused+": check the pull secrets or registry credentials")
	e.expect(admission("Deployment", enforced, staleOnly, "denied", harness.Deployer))
	wantNoDeployment(ctx, t, e.c, enforced, staleOnly)

	// The namespace admin gives the default ServiceAccount the pull secret
	// (and takes it back afterwards: later scenarios use the account).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := e.c.MustKubectl(ctx, harness.Admin, "", "patch", "serviceaccount", "default", "-n", enforced,
			"--type=merge", "-p", `{"imagePullSecrets":null}`); err != nil {
			t.Errorf("taking the pull secret back from service account %s/default: %v", enforced, err)
		}
	})
	if _, err := e.c.MustKubectl(ctx, harness.Admin, "", "patch", "serviceaccount", "default", "-n", enforced,
		"--type=merge", "-p", fmt.Sprintf(`{"imagePullSecrets":[{"name":%q}]}`, pullSecret)); err != nil {
		t.Fatal(err)
	}
	patched := time.Now()

	const probe, viaSA = "ledger-service-account-probe", "ledger-service-account"
	limit := pullSecretsTTL + 20*time.Second
	for attempt := 1; ; attempt++ {
		r = e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, probe, ref, 1), "apply", "--dry-run=server", "-f", "-")
		if r.Err == nil {
			e.log.Printf("the service account's pull secret is used %s after it was added (dry run %d)",
				time.Since(patched).Round(time.Millisecond), attempt)
			break
		}
		if !strings.Contains(r.Stderr, refused) {
			t.Fatalf("want the dry run admitted, or refused with %q while shipgate keeps its keychain:\n%s", refused, r)
		}
		if time.Since(patched) > limit {
			t.Fatalf("a Deployment without pull secrets of its own is still refused %s after service account %s/default got pull secret %s "+
				"(shipgate keeps a keychain for %s); %d dry runs, the last:\n%s",
				time.Since(patched).Round(time.Second), enforced, pullSecret, pullSecretsTTL, attempt, r)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	wantNoDeployment(ctx, t, e.c, enforced, probe)

	r = e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, viaSA, ref, 1), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the Deployment using the service account's pull secret admitted:\n%s", r)
	}
	e.expect(admission("Deployment", enforced, viaSA, "admitted", harness.Deployer))
	wantRolloutAdmitted(t, e, "Deployment", enforced, viaSA)
	for _, p := range waitPods(ctx, t, e, enforced, "app="+viaSA, 1) {
		wantImage(t, p, e.priv.Pinned(privateTag))
	}
}

// withPullSecrets adds imagePullSecrets to a manifest deployment made.
func withPullSecrets(manifest string, names ...string) string {
	var b strings.Builder
	b.WriteString(manifest)
	b.WriteString("      imagePullSecrets:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "      - name: %s\n", n)
	}
	return b.String()
}
