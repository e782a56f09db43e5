package signer

import (
	"crypto"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/internal/registrytest"
)

const passedPredicate = `{"result":"PASSED","configuration":[],"passedTests":["pkg.TestA"]}`

// testKey is cosigntest's shared key pair, written to a temporary
// directory, and its signer, decrypted once.
func testKey(t *testing.T) (signature.SignerVerifier, string, string) {
	t.Helper()
	key, pub := cosigntest.SharedKeyPair(t, t.TempDir())
	sv, err := sharedSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return sv, key, pub
}

var (
	sharedSignerOnce sync.Once
	sharedSv         signature.SignerVerifier
	sharedSvErr      error
)

func sharedSigner(key string) (signature.SignerVerifier, error) {
	sharedSignerOnce.Do(func() { sharedSv, sharedSvErr = LoadPrivateKey(key, []byte(cosigntest.Password)) })
	return sharedSv, sharedSvErr
}

func mustParse(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// attLayout is what makes an attestation cosign v2's: the .att tag's
// manifest and the layer of each attestation.
type attLayout struct {
	Tag, ManifestType, ConfigType, LayerType string
	Annotations                              []string // keys
	PredicateTypes                           []string
	Count                                    int
}

func readAttLayout(t *testing.T, image string) attLayout {
	t.Helper()
	ref := mustParse(t, image)
	tag, err := ociremote.AttestationTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatalf("reading %s: %v", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	l := attLayout{Tag: tag.TagStr(), ManifestType: string(m.MediaType), ConfigType: string(m.Config.MediaType), Count: len(m.Layers)}
	se, err := ociremote.SignedEntity(ref)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := se.Attestations()
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := atts.Get()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sigs {
		mt, err := s.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		ann, err := s.Annotations()
		if err != nil {
			t.Fatal(err)
		}
		l.LayerType = string(mt)
		l.Annotations = slices.Sorted(maps.Keys(ann))
		l.PredicateTypes = append(l.PredicateTypes, ann["predicateType"])
	}
	return l
}

// TestAttestWritesCosignsLayout attests once with Attest and once with the
// cosign CLI, and finds the same layout.
func TestAttestWritesCosignsLayout(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	sv, key, pub := testKey(t)

	_, ours := reg.PushRandom(t, "app", "ours")
	got, err := Attest(t.Context(), mustParse(t, reg.Ref("app", "ours")), TestResultPredicateType, []byte(passedPredicate), sv)
	if err != nil {
		t.Fatal(err)
	}
	if got != ours {
		t.Errorf("attested %s, want %s", got, ours)
	}

	_, theirs := reg.PushRandom(t, "app", "theirs")
	predicate := filepath.Join(t.TempDir(), "predicate.json")
	if err := os.WriteFile(predicate, []byte(passedPredicate), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cosigntest.Run(t, cosigntest.AttestArgs(key, TestResultPredicateType, predicate, reg.Host+"/app@"+theirs)...); err != nil {
		t.Fatal(err)
	}

	a, b := readAttLayout(t, reg.Host+"/app@"+ours), readAttLayout(t, reg.Host+"/app@"+theirs)
	if want := "sha256-" + strings.TrimPrefix(ours, "sha256:") + ".att"; a.Tag != want {
		t.Errorf("tag %s, want %s", a.Tag, want)
	}
	if a.LayerType != types.DssePayloadType || a.Count != 1 || !slices.Equal(a.PredicateTypes, []string{TestResultPredicateType}) {
		t.Errorf("our layout: %+v", a)
	}
	a.Tag, b.Tag = "", ""
	if !equalLayout(a, b) {
		t.Errorf("layouts differ:\n shipgate %+v\n cosign   %+v", a, b)
	}

	// cosign's library verifies ours with the public key, offline.
	verifier := loadPub(t, pub)
	checked, _, err := cosign.VerifyImageAttestations(t.Context(), mustParse(t, reg.Host+"/app@"+ours),
		&cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier})
	if err != nil || len(checked) != 1 {
		t.Fatalf("verifying: %d attestations, %v", len(checked), err)
	}
	payload, err := checked[0].Payload()
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ PayloadType string }
	if err := json.Unmarshal(payload, &env); err != nil || env.PayloadType != types.IntotoPayloadType {
		t.Errorf("envelope %s: %v", payload, err)
	}
}

func equalLayout(a, b attLayout) bool {
	return a.ManifestType == b.ManifestType && a.ConfigType == b.ConfigType && a.LayerType == b.LayerType &&
		slices.Equal(a.Annotations, b.Annotations) && slices.Equal(a.PredicateTypes, b.PredicateTypes) && a.Count == b.Count
}

func loadPub(t *testing.T, path string) signature.Verifier {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := cosign.PemToECDSAKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signature.LoadVerifier(pk, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAttestAddsBeside: as `cosign attest` without --replace, a second
// attestation joins the first. (cosign's duplicate detector never matches
// an attestation: the layer is the envelope, whose ECDSA signature differs
// each time.)
func TestAttestAddsBeside(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	sv, _, _ := testKey(t)
	ref, digest := reg.PushRandom(t, "app", "v1")
	for _, p := range []string{passedPredicate, `{"result":"FAILED","configuration":[],"failedTests":["pkg.TestB"]}`} {
		if _, err := Attest(t.Context(), mustParse(t, ref), TestResultPredicateType, []byte(p), sv); err != nil {
			t.Fatal(err)
		}
	}
	if l := readAttLayout(t, reg.Host+"/app@"+digest); l.Count != 2 || len(l.PredicateTypes) != 2 {
		t.Fatalf("%+v, want 2 attestations", l)
	}
}

func TestAttestAnIndexAttestsTheIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	sv, _, _ := testKey(t)
	ref, idx, platforms := reg.PushIndex(t, "multi", "v1", 2)
	got, err := Attest(t.Context(), mustParse(t, ref), TestResultPredicateType, []byte(passedPredicate), sv)
	if err != nil {
		t.Fatal(err)
	}
	if got != idx {
		t.Fatalf("attested %s, want the index %s", got, idx)
	}
	tag, err := ociremote.AttestationTag(mustParse(t, reg.Host+"/multi@"+platforms[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(tag); err == nil {
		t.Errorf("a platform image got an attestation of its own")
	}
}

func TestAttestRefusals(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	sv, _, _ := testKey(t)
	ref, _ := reg.PushRandom(t, "app", "v1")
	tests := map[string]struct {
		ref, predicateType, predicate string
		fault                         bool
		want                          string
	}{
		"a predicate type that is no URI": {ref: ref, predicateType: "test-result", predicate: passedPredicate, want: "is not a URI"},
		"a predicate that is no JSON":     {ref: ref, predicateType: TestResultPredicateType, predicate: "PASSED", want: "not JSON"},
		"a predicate that is no object":   {ref: ref, predicateType: TestResultPredicateType, predicate: `["PASSED"]`, want: "making the in-toto statement"},
		"an image that is not there":      {ref: reg.Ref("app", "missing"), predicateType: TestResultPredicateType, predicate: passedPredicate, want: "resolving its digest"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Attest(t.Context(), mustParse(t, tc.ref), tc.predicateType, []byte(tc.predicate), sv)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "attesting ") {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestAttestRegistryFailure(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	sv, _, _ := testKey(t)
	ref, _ := reg.PushRandom(t, "app", "v1")
	reg.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPut {
			return false
		}
		http.Error(w, "disk full", http.StatusInternalServerError)
		return true
	})
	_, err := Attest(t.Context(), mustParse(t, ref), TestResultPredicateType, []byte(passedPredicate), sv,
		remote.WithRetryStatusCodes(), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	if err == nil || !strings.Contains(err.Error(), "writing the attestation") {
		t.Fatalf("error %v, want a write failure", err)
	}
}

func TestLoadPrivateKey(t *testing.T) {
	t.Parallel()
	key, _ := cosigntest.SharedKeyPair(t, t.TempDir())
	if _, err := LoadPrivateKey(key, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "decrypt") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(t.TempDir(), "none.key"), nil); err == nil || !strings.Contains(err.Error(), "loading cosign key") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadPrivateKey(key, []byte(cosigntest.Password)); err != nil {
		t.Errorf("right password: %v", err)
	}
}
