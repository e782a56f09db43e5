package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/signer/api"
)

func TestVerifyAPI(t *testing.T) {
	imgs := signedtest.New(t)
	good, digest := imgs.Push(t, "shop/api", "1.0", signer.TestsPassed)
	failing, _ := imgs.Push(t, "shop/api", "1.1", signer.TestsFailed)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	v := signer.New(cfg.Verification, trust)

	tf, err := auth.ParseTokenFile("t", strings.NewReader("t-ci,ci,u1,ci\nt-dev,dev,u2\n"))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := auth.ParseRoleFile("r", []byte("roles:\n- name: verifier\n  rules: [{resources: [verifications], verbs: [create]}]\nbindings:\n- {role: verifier, groups: [ci], namespaces: [\"shop\", \"down\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	trustFor := func(_ context.Context, ns string) ([]string, error) {
		if ns == "down" {
			return nil, errors.New("looking up namespace down: the API server is unreachable")
		}
		return cfg.Resolve(ns, nil).Binding.Trust, nil
	}
	api.Register(r, v, trustFor, &httpapi.Guard{Authn: tf, Authz: rf})

	post := func(token, ns, body string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/verify?namespace="+ns, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	code, body := post("t-ci", "shop", `{"images":["`+good+`","`+failing+`","`+good+`"]}`)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %s", code, body)
	}
	var resp api.Response
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 2 || resp.Trust[0] != "test" {
		t.Fatalf("got %d results under trust %v, want 2 (duplicates verified once) under [test]", len(resp.Results), resp.Trust)
	}
	if r := resp.Results[0]; !r.Verified || r.Digest != digest || len(r.Attestations) != 1 {
		t.Errorf("the passing image: %+v", r)
	}
	if r := resp.Results[1]; r.Verified || !strings.Contains(strings.Join(r.Errors, ";"), "tests did not pass: result FAILED") {
		t.Errorf("the failing image: verified=%v errors %q", r.Verified, r.Errors)
	}

	// The verification warmed the cache: the admission is now a lookup.
	imgs.Registry.ResetCount()
	byDigest := imgs.Registry.Host + "/shop/api@" + digest
	if rs := v.Verify(t.Context(), signer.Request{Images: []string{byDigest}, Trust: []string{"test"}}); !rs[0].Verified || !rs[0].Cached {
		t.Errorf("after /v1/verify the digest was not a cache hit: %+v", rs[0])
	}
	if n := imgs.Registry.Requests(); n != 0 {
		t.Errorf("a warmed admission made %d registry requests", n)
	}

	for name, tc := range map[string]struct {
		token, ns, body string
		status          int
		want            string
	}{
		"no namespace":             {"t-ci", "", `{"images":["a:1"]}`, 400, "namespace query parameter is required"},
		"no images":                {"t-ci", "shop", `{"images":[]}`, 400, "at least one image"},
		"not JSON":                 {"t-ci", "shop", `images`, 400, "reading the request"},
		"an unknown field":         {"t-ci", "shop", `{"image":"a:1"}`, 400, "unknown field"},
		"too many images":          {"t-ci", "shop", `{"images":[` + strings.Repeat(`"a:1",`, 100) + `"a:1"]}`, 400, "at most 100"},
		"not allowed to verify":    {"t-dev", "shop", `{"images":["a:1"]}`, 403, "forbidden"},
		"outside its namespaces":   {"t-ci", "prod", `{"images":["a:1"]}`, 403, "forbidden"},
		"unauthenticated":          {"nope", "shop", `{"images":["a:1"]}`, 401, "unauthenticated"},
		"namespace lookup failing": {"t-ci", "down", `{"images":["a:1"]}`, 503, "the API server is unreachable"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := post(tc.token, tc.ns, tc.body)
			if code != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("HTTP %d %s, want %d with %q", code, body, tc.status, tc.want)
			}
		})
	}
}
