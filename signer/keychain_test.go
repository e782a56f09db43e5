package signer_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// TestDockerConfigCredentials: a registry that wants basic auth is read
// with the credentials of verification.dockerConfig, and refused without.
func TestDockerConfigCredentials(t *testing.T) {
	imgs := signedtest.New(t)
	ref, _ := imgs.Push(t, "private/app", "1", signer.TestsPassed)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	imgs.Registry.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == want {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return true
	})
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
	imgs := signedtest.New(t)
	ref, digest := imgs.Push(t, "private/app", "1", signer.TestsPassed)
	byDigest := imgs.Registry.Host + "/private/app@" + digest
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	imgs.Registry.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == want {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return true
	})
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
