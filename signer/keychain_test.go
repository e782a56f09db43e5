package signer_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/kube/kubetest"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// TestDockerConfigCredentials: a registry that wants basic auth is read
// with the credentials of verification.dockerConfig, and refused without.
func TestDockerConfigCredentials(t *testing.T) {
	imgs, ref, _, _ := privateRegistry(t)
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	auths := `{"auths":{"` + imgs.Registry.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("robot:s3cret")) + `"}}}`
	if err := os.WriteFile(cfgFile, []byte(auths), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust := compile(t, cfg)

	anonymous := signer.New(cfg.Verification, trust).Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"}})[0]
	if anonymous.Verified || !strings.Contains(strings.Join(anonymous.Errors, ";"), "refused access (401)") {
		t.Errorf("without credentials: verified=%v %q, want refused access (401)", anonymous.Verified, anonymous.Errors)
	}
	withCreds := signer.New(cfg.Verification, trust, signer.WithKeychain(signer.DockerConfigKeychain(cfgFile))).
		Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"}})[0]
	if !withCreds.Verified {
		t.Errorf("with the Docker config's credentials: %q", withCreds.Errors)
	}
}

// basicKeychain gives every image the same user and password.
type basicKeychain struct{ user, pass string }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// TestRefusedAccessIsNotSharedAcrossCredentials: a registry's 401 is about
// the credentials that were sent, not the image. An admission whose pull
// secret is stale is refused; one from another namespace, with the right
// credentials, naming the same digest moments later is verified, not
// handed the first one's refusal from the cache.
func TestRefusedAccessIsNotSharedAcrossCredentials(t *testing.T) {
	imgs, ref, digest, _ := privateRegistry(t)
	byDigest := imgs.Registry.Host + "/private/app@" + digest
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	v := signer.New(cfg.Verification, compile(t, cfg))
	for _, ref := range []string{byDigest, ref} {
		stale := v.Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"},
			Keychain: basicKeychain{"robot", "old"}, KeychainKey: "team-a/default/regcred#1"})[0]
		if stale.Verified || !strings.Contains(strings.Join(stale.Errors, ";"), "refused access (401)") {
			t.Errorf("%s with a stale password: verified=%v %q, want refused access (401)", ref, stale.Verified, stale.Errors)
		}
		right := v.Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"},
			Keychain: basicKeychain{"robot", "s3cret"}, KeychainKey: "team-b/default/regcred#2"})[0]
		if !right.Verified {
			t.Errorf("%s with the right password, after a refusal elsewhere: %q", ref, right.Errors)
		}
	}
}

// privateRegistry pushes a signed, tested image to a registry that then
// wants basic auth as robot:s3cret; refused counts the requests it refused
// that carried credentials (a client's first request, its ping, carries
// none).
func privateRegistry(t *testing.T) (imgs *signedtest.Images, ref, digest string, refused *atomic.Int64) {
	var pass atomic.Pointer[string]
	pass.Store(new("s3cret"))
	return privateRegistryAccepting(t, &pass)
}

// privateRegistryAccepting is privateRegistry accepting user robot with
// whatever password pass holds at each request.
func privateRegistryAccepting(t *testing.T, pass *atomic.Pointer[string]) (imgs *signedtest.Images, ref, digest string, refused *atomic.Int64) {
	imgs = signedtest.New(t)
	ref, digest = imgs.Push(t, "private/app", "1", signer.TestsPassed)
	refused = new(atomic.Int64)
	imgs.Registry.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte("robot:"+*pass.Load())) {
			return false
		}
		if r.Header.Get("Authorization") != "" {
			refused.Add(1)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return true
	})
	return imgs, ref, digest, refused
}

// regcred is a kubernetes.io/dockerconfigjson Secret in namespace team
// with one user and password for host.
func regcred(name, host, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`)},
	}
}

// TestPullSecretsTriedInTurn: a pod names two pull secrets for one
// registry, the first with a password since rotated. The kubelet tries
// each until the registry accepts one, and so does the verifier: the
// image, by tag and by digest, is verified after the stale one is refused.
// When every one is refused, the error says how many were tried.
func TestPullSecretsTriedInTurn(t *testing.T) {
	imgs, ref, digest, refused := privateRegistry(t)
	host := imgs.Registry.Host
	client, _ := kubetest.New(
		regcred("a-stale", host, "robot", "old"),
		regcred("b-current", host, "robot", "s3cret"),
		regcred("c-wrong", host, "robot", "guess"),
	)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	pulls := signer.NewPullSecrets(client, nil)
	verify := func(v *signer.Verifier, ref string, secrets ...string) *signer.Result {
		kc, key, err := pulls.For(t.Context(), "team", "", secrets)
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"}, Keychain: kc, KeychainKey: key})[0]
	}

	for _, r := range []string{host + "/private/app@" + digest, ref} {
		before := refused.Load()
		if res := verify(signer.New(cfg.Verification, compile(t, cfg)), r, "a-stale", "b-current"); !res.Verified {
			t.Errorf("%s with a stale and a current pull secret: %q", r, res.Errors)
		}
		if refused.Load() == before {
			t.Errorf("%s: the registry refused nothing, so the stale secret was never tried first", r)
		}
	}
	// Verifiers of their own, whose caches do not hold the verdict and
	// which remember no credential. The pod's order is the order tried:
	// the current secret first, nothing refused.
	before := refused.Load()
	if res := verify(signer.New(cfg.Verification, compile(t, cfg)), host+"/private/app@"+digest, "b-current", "a-stale"); !res.Verified || refused.Load() != before {
		t.Errorf("with the current pull secret named first: verified=%v %q, %d requests refused, want none", res.Verified, res.Errors, refused.Load()-before)
	}
	fresh := signer.New(cfg.Verification, compile(t, cfg))
	res := verify(fresh, host+"/private/app@"+digest, "a-stale", "c-wrong")
	if res.Verified || !strings.Contains(strings.Join(res.Errors, ";"), "registry "+host+" refused each of the 2 credentials") {
		t.Errorf("with two refused pull secrets: verified=%v %q, want both named as refused", res.Verified, res.Errors)
	}
}

// TestWorkingCredentialRemembered: once the registry has refused the first
// of two matching pull secrets and accepted the second, later admissions
// with the same secrets send the second first, and nothing is refused.
// When the registry then refuses that one (its password changed there),
// the others are tried again from the first.
func TestWorkingCredentialRemembered(t *testing.T) {
	var accepted atomic.Pointer[string]
	accepted.Store(new("two"))
	imgs, ref, _, refused := privateRegistryAccepting(t, &accepted)
	host := imgs.Registry.Host
	client, _ := kubetest.New(regcred("a", host, "robot", "one"), regcred("b", host, "robot", "two"))
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	pulls := signer.NewPullSecrets(client, nil)
	v := signer.New(cfg.Verification, compile(t, cfg))
	admit := func(step string, wantRefused int64) {
		t.Helper()
		kc, key, err := pulls.For(t.Context(), "team", "", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		before := refused.Load()
		res := v.Verify(t.Context(), signer.Request{Images: []string{ref}, Trust: []string{"test"}, Keychain: kc, KeychainKey: key})[0]
		if !res.Verified {
			t.Fatalf("%s: not verified: %q", step, res.Errors)
		}
		if got := refused.Load() - before; got != wantRefused {
			t.Errorf("%s: %d requests refused, want %d", step, got, wantRefused)
		}
	}
	admit("first admission, a tried first", 1)
	for i := range 3 {
		admit(fmt.Sprintf("admission %d, b remembered", i+2), 0)
	}
	accepted.Store(new("one")) // b's password changed at the registry
	admit("b refused, a tried again", 1)
	admit("a first again", 0)
}
