package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/webhook"
)

// running is a server started by startWith, with what a test needs to
// stop it and look at it afterwards.
type running struct {
	s      *Server
	client *http.Client
	base   string
	store  string // the SQLite store's URL
	stop   context.CancelFunc
	done   chan error // Run's result
}

// startWith runs a server with the config in file (none: the defaults)
// and extra webhook options (a verifier that blocks, say).
func startWith(t *testing.T, file string, extra ...webhook.Option) *running {
	t.Helper()
	dir := t.TempDir()
	r := &running{store: "sqlite://" + filepath.Join(dir, "shipgate.db"), done: make(chan error, 1)}
	s, err := New(Options{
		ConfigFile: file,
		Addr:       "127.0.0.1:0",
		CertDir:    filepath.Join(dir, "certs"),
		StoreURL:   r.store,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Webhook:    extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- s.Run(ctx) }()
	stopped := false
	r.stop = func() { stopped = true; cancel() }
	t.Cleanup(func() {
		cancel()
		if !stopped {
			if err := <-r.done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
	r.s, r.client, r.base = clientFor(t, s)
	return r
}

// configFile writes a GatewayConfig for the test and returns its path.
func configFile(t *testing.T, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeAtomically(t, file, content)
	return file
}

// pinnedDeployment is latestDeployment with a version tag and the given
// uid: it passes the floor rules, so the verifier judges it.
func pinnedDeployment(t *testing.T, uid string) []byte {
	t.Helper()
	body := strings.Replace(string(latestDeployment(t)), "nginx:latest", "nginx:1.27.3", 1)
	return []byte(strings.Replace(body, `"uid":"1"`, fmt.Sprintf(`"uid":%q`, uid), 1))
}

// bareDevPod is a Pod CREATE in namespace dev-team (warn mode in the
// configs below), something /mutate would pin.
var bareDevPod = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"p1","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"dev-team","name":"debug","operation":"CREATE",
 "userInfo":{"username":"alice"},
 "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"debug","namespace":"dev-team"},
  "spec":{"containers":[{"name":"sh","image":"busybox:1.37"}]}}}}`)

// post sends an AdmissionReview and decodes the answer, which must be an
// HTTP 200; safe outside the test's goroutine.
func post(client *http.Client, url string, body []byte) (*admissionv1.AdmissionResponse, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil {
		return nil, fmt.Errorf("not an AdmissionReview: %v", err)
	}
	return review.Response, nil
}

// TestOverloadIsShedWhileProbesAndAPIsAnswer: with webhook.maxInFlight
// admissions held at the verifier, the next admission is answered at once
// with a 429 (enforce) or an unpinned allow with a warning (/mutate); the
// probes, /metrics and the REST API answer as ever, and the shed request
// is counted. Released, the held admissions are admitted and the next one
// is judged again.
func TestOverloadIsShedWhileProbesAndAPIsAnswer(t *testing.T) {
	const limit = 2
	bv := signedtest.NewBlocking()
	r := startWith(t, configFile(t, gatewayEnforce+fmt.Sprintf(`namespaces:
- match: {names: ["dev-*"]}
  mode: warn
webhook:
  maxInFlight: %d
`, limit)), webhook.WithVerifier(bv))

	type result struct {
		resp *admissionv1.AdmissionResponse
		err  error
	}
	held := make(chan result, limit)
	for i := range limit {
		body := pinnedDeployment(t, fmt.Sprintf("held-%d", i))
		go func() {
			resp, err := post(r.client, r.base+"/validate?timeout=10s", body)
			held <- result{resp, err}
		}()
	}
	bv.WaitEntered(t, limit)

	resp, err := post(r.client, r.base+"/validate?timeout=10s", pinnedDeployment(t, "extra"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed || resp.Result.Code != http.StatusTooManyRequests || !strings.Contains(resp.Result.Message, "too many admissions in flight") {
		t.Errorf("an admission past the bound: allowed=%v code=%d %q, want a 429 refusal", resp.Allowed, resp.Result.Code, resp.Result.Message)
	}
	resp, err = post(r.client, r.base+"/mutate?timeout=10s", bareDevPod)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed || resp.Patch != nil || !strings.Contains(strings.Join(resp.Warnings, " "), "images were not pinned") {
		t.Errorf("/mutate past the bound: allowed=%v patch=%s warnings %q, want allowed, unpinned, with a warning", resp.Allowed, resp.Patch, resp.Warnings)
	}

	for path, want := range map[string]struct {
		code int
		says string
	}{
		"/healthz":         {200, "ok"},
		"/readyz":          {200, "ok"},
		"/metrics":         {200, `shipgate_admissions_shed_total{mode="enforce",webhook="validate"} 1`},
		"/v1/audit/events": {401, `"code":"unauthenticated"`},
		"/v1/approvals":    {401, `"code":"unauthenticated"`},
	} {
		res, err := r.client.Get(r.base + path)
		if err != nil {
			t.Errorf("GET %s while admissions are shed: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want.code || !strings.Contains(string(body), want.says) {
			t.Errorf("GET %s while admissions are shed: %d %.300s, want %d holding %q", path, res.StatusCode, body, want.code, want.says)
		}
	}
	if !strings.Contains(get(t, r.client, r.base+"/metrics"), `shipgate_admissions_shed_total{mode="warn",webhook="mutate"} 1`) {
		t.Error("the shed /mutate request is not counted under mode warn")
	}
	if len(held) != 0 {
		t.Fatal("a held admission was answered before its verifier was released")
	}

	bv.Release()
	for range limit {
		h := <-held
		if h.err != nil || !h.resp.Allowed {
			t.Errorf("a held admission, released: %+v %v, want allowed", h.resp, h.err)
		}
	}
	resp, err = post(r.client, r.base+"/validate?timeout=10s", pinnedDeployment(t, "after"))
	if err != nil || !resp.Allowed || resp.AuditAnnotations["shed"] != "" {
		t.Errorf("after the load passed: %+v %v, want judged and allowed", resp, err)
	}
}
