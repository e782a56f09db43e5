package kube_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/approval/kube"
)

// kubeconfig has two contexts: alice with a token, ops with a token file,
// and certs with only a client certificate.
const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://prod.example.com:6443"}
users:
- name: alice
  user: {token: alice-token}
- name: ops
  user: {tokenFile: TOKENFILE}
- name: certs
  user: {client-certificate-data: aGVsbG8=, client-key-data: aGVsbG8=}
contexts:
- {name: alice, context: {cluster: prod, user: alice}}
- {name: ops, context: {cluster: prod, user: ops}}
- {name: certs, context: {cluster: prod, user: certs}}
current-context: alice
`

func TestTransportCarriesTheKubeconfigToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("ops-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(strings.Replace(kubeconfig, "TOKENFILE", tokenFile, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
	}))
	defer srv.Close()

	for context, want := range map[string]string{"": "Bearer alice-token", "ops": "Bearer ops-token"} {
		rt, err := kube.Transport(path, context, http.DefaultTransport)
		if err != nil {
			t.Fatalf("context %q: %v", context, err)
		}
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-seen; got != want {
			t.Errorf("context %q sent %q, want %q", context, got, want)
		}
	}

	_, err := kube.Transport(path, "certs", http.DefaultTransport)
	if !errors.Is(err, kube.ErrNoToken) || err.Error() != `context "certs": the kubeconfig user has no bearer token` {
		t.Errorf("a certificate-only user: %v", err)
	}
	if _, err := kube.Transport(filepath.Join(dir, "missing"), "", http.DefaultTransport); err == nil {
		t.Error("a missing kubeconfig was accepted")
	}
}
