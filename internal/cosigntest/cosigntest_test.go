package cosigntest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/registrytest"
)

// TestOfflineCommandLines runs each documented command line against a
// loopback registry, in both layouts.
func TestOfflineCommandLines(t *testing.T) {
	t.Parallel()
	const predicateType = "https://in-toto.io/attestation/test-result/v0.1"
	dir := t.TempDir()
	key, pub := KeyPair(t, dir)
	predicate := filepath.Join(dir, "predicate.json")
	if err := os.WriteFile(predicate, []byte(`{"result":"PASSED","configuration":[],"passedTests":["TestA"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	root := EmptyTrustedRoot(t)

	for name, layout := range map[string]func([]string) []string{
		"tag layout":    func(a []string) []string { return a },
		"bundle layout": Bundle,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			_, digest := reg.PushRandom(t, "app", "v1")
			image := reg.Host + "/app@" + digest
			run := func(args []string) string {
				t.Helper()
				out, _, err := Run(t, layout(args)...)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			run(SignArgs(key, image))
			run(AttestArgs(key, predicateType, predicate, image))
			if out := run(VerifyArgs(pub, root, image)); !strings.Contains(out, digest) {
				t.Errorf("verify printed no claim for %s:\n%s", digest, out)
			}
			if out := run(VerifyAttestationArgs(pub, root, predicateType, image)); !strings.Contains(out, `"payloadType":"application/vnd.in-toto+json"`) {
				t.Errorf("verify-attestation printed no envelope:\n%s", out)
			}

			// Another key verifies nothing.
			_, otherPub := KeyPair(t, t.TempDir())
			if _, _, err := Run(t, layout(VerifyArgs(otherPub, root, image))...); err == nil {
				t.Errorf("verify with another key succeeded")
			}
		})
	}
}

func TestTripwireCatchesNetworkUse(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.SetFault(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusNotFound)
		return true
	})
	_, pub := KeyPair(t, t.TempDir())
	// Without --trusted-root, verify fetches trusted_root.json from TUF.
	_, _, err := Run(t, "verify", "--key", pub, "--insecure-ignore-tlog=true", reg.Host+"/app:v1")
	if err == nil || !strings.Contains(err.Error(), "tried the network: CONNECT tuf-repo-cdn.sigstore.dev:443") {
		t.Fatalf("got %v, want the TUF fetch caught", err)
	}
}

func TestKeyPairIsEncrypted(t *testing.T) {
	t.Parallel()
	key, pub := KeyPair(t, t.TempDir())
	k, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(k), "ENCRYPTED SIGSTORE PRIVATE KEY") || !strings.Contains(string(p), "PUBLIC KEY") {
		t.Errorf("key pair:\n%s\n%s", k, p)
	}
}
