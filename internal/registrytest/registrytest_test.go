package registrytest_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/internal/registrytest"
)

func TestPushAndHeadAreCounted(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	ref, digest := reg.PushRandom(t, "team/app", "v1")
	if want := reg.Host + "/team/app:v1"; ref != want {
		t.Errorf("ref = %q, want %q", ref, want)
	}
	if !strings.HasPrefix(digest, "sha256:") || !strings.HasPrefix(reg.Host, "127.0.0.1:") {
		t.Errorf("digest %q, host %q", digest, reg.Host)
	}
	if reg.Requests() == 0 || int64(len(reg.RequestLog())) != reg.Requests() {
		t.Fatalf("after a push: %d requests, log %q", reg.Requests(), reg.RequestLog())
	}

	reg.ResetCount()
	desc, err := remote.Head(parse(t, ref))
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("HEAD digest %s, want %s", desc.Digest, digest)
	}
	// GET /v2/ (the ping) and HEAD of the manifest.
	log := reg.RequestLog()
	if reg.Requests() != 2 || !slices.Contains(log, "HEAD /v2/team/app/manifests/v1") {
		t.Errorf("a HEAD made %d requests: %q", reg.Requests(), log)
	}
}

func TestFaultAnswersAndIsCounted(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	ref, _ := reg.PushRandom(t, "app", "v1")
	reg.ResetCount()
	reg.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if !strings.Contains(req.URL.Path, "/manifests/") {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	_, err := remote.Head(parse(t, ref), remote.WithRetryStatusCodes())
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("HEAD under a 429 fault: %v, want a 429", err)
	}
	if reg.Requests() != 2 {
		t.Errorf("%d requests counted, want 2 (ping and the refused HEAD): %q", reg.Requests(), reg.RequestLog())
	}

	reg.SetFault(nil)
	if _, err := remote.Head(parse(t, ref)); err != nil {
		t.Errorf("HEAD after clearing the fault: %v", err)
	}
}

func TestPushIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	ref, idxDigest, platforms := reg.PushIndex(t, "multi", "v1", 2)
	idx, err := remote.Index(parse(t, ref))
	if err != nil {
		t.Fatalf("pulling index: %v", err)
	}
	d, _ := idx.Digest()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != idxDigest || len(m.Manifests) != 2 || len(platforms) != 2 {
		t.Fatalf("index %s with %d manifests, want %s with 2", d, len(m.Manifests), idxDigest)
	}
	for i, want := range []string{"linux/amd64", "linux/arm64"} {
		got := m.Manifests[i]
		if got.Digest.String() != platforms[i] || got.Platform == nil || got.Platform.String() != want {
			t.Errorf("manifest %d: %s %v, want %s %s", i, got.Digest, got.Platform, platforms[i], want)
		}
		if _, err := remote.Image(parse(t, reg.Host+"/multi@"+platforms[i])); err != nil {
			t.Errorf("pulling platform image %s: %v", platforms[i], err)
		}
	}
}

func TestReferrersAPI(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]registrytest.Option{
		"served by default":      nil,
		"absent when turned off": {registrytest.WithoutReferrers()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, opts...)
			_, digest := reg.PushRandom(t, "app", "v1")
			resp, err := http.Get(reg.URL + "/v2/app/referrers/" + digest)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got, want := resp.StatusCode == http.StatusOK, opts == nil; got != want {
				t.Errorf("GET referrers: %s", resp.Status)
			}
		})
	}
}

func parse(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatalf("parsing %s: %v", s, err)
	}
	return ref
}
