package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	signerapi "github.com/shipgate/shipgate/signer/api"
)

func runShipgate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestVerifyCommand verifies offline against a config file, and through a
// gateway's /v1/verify, and exits 1 when an image does not verify.
func TestVerifyCommand(t *testing.T) {
	imgs := signedtest.New(t)
	good, digest := imgs.Push(t, "shop/api", "1.0", signer.TestsPassed)
	failing, _ := imgs.Push(t, "shop/api", "1.1", signer.TestsFailed)
	gateway := "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce}\nnamespaces:\n- match: {names: [shop]}\n  trust: [test]\n" + imgs.TrustYAML(t, "test")
	cfgFile := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgFile, []byte(gateway), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := runShipgate(t, "verify", "--config", cfgFile, "-n", "shop", good)
	if err != nil {
		t.Fatalf("verify of a signed, tested image: %v\n%s", err, out)
	}
	if !strings.Contains(out, digest) || !strings.Contains(out, "release") || !strings.Contains(out, "test-result/v0.1 by ci") {
		t.Errorf("table lacks the digest, signer or attestation:\n%s", out)
	}

	out, err = runShipgate(t, "verify", "--config", cfgFile, "-n", "shop", good, failing, "-o", "json")
	var code exitCode
	if !errors.As(err, &code) || code != 1 {
		t.Fatalf("a failing image: err %v, want exit 1\n%s", err, out)
	}
	var resp signerapi.Response
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Results) != 2 || resp.Results[1].Verified {
		t.Fatalf("json output %s (%v)", out, err)
	}

	// A namespace no binding gives trust: nothing is trusted.
	out, err = runShipgate(t, "verify", "--config", cfgFile, "-n", "elsewhere", good)
	if !errors.As(err, &code) || code != 1 || !strings.Contains(out, "no trust policy matches") {
		t.Errorf("another namespace: %v\n%s", err, out)
	}

	// Through a gateway.
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, readLocalSource)
	if err != nil {
		t.Fatal(err)
	}
	v := signer.New(cfg.Verification, trust)
	tf, _ := auth.ParseTokenFile("t", strings.NewReader("t-ci,ci,u1,ci\n"))
	rf, _ := auth.ParseRoleFile("r", []byte("roles:\n- name: v\n  rules: [{resources: [verifications], verbs: [create]}]\nbindings:\n- {role: v, groups: [ci]}\n"))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	signerapi.Register(r, v, func(_ context.Context, ns string) ([]string, error) { return cfg.Resolve(ns, nil).Binding.Trust, nil }, &httpapi.Guard{Authn: tf, Authz: rf})
	srv := httptest.NewServer(r)
	defer srv.Close()

	out, err = runShipgate(t, "verify", "--server", srv.URL, "--token", "t-ci", "-n", "shop", good)
	if err != nil || !strings.Contains(out, digest) {
		t.Fatalf("verify --server: %v\n%s", err, out)
	}
	imgs.Registry.ResetCount()
	if rs := v.Verify(t.Context(), signer.Request{Images: []string{imgs.Registry.Host + "/shop/api@" + digest}, Trust: []string{"test"}}); !rs[0].Cached {
		t.Error("verify --server did not warm the gateway's cache")
	}
	out, err = runShipgate(t, "verify", "--server", srv.URL, "--token", "wrong", "-n", "shop", good)
	if !errors.As(err, &code) || code != 2 {
		t.Errorf("a bad token: %v, want exit 2\n%s", err, out)
	}
}
