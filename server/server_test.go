package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

const gatewayEnforce = `apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults:
  mode: enforce
`

const gatewayWarn = `apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults:
  mode: warn
`

// started runs a server on loopback with a generated CA and returns an
// HTTPS client that trusts only that CA.
func started(t *testing.T, configFile string) (*Server, *http.Client, string) {
	t.Helper()
	return clientFor(t, runServer(t, Options{ConfigFile: configFile}))
}

// clientFor returns an HTTPS client that trusts only s's generated CA.
func clientFor(t *testing.T, s *Server) (*Server, *http.Client, string) {
	t.Helper()
	ca, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA bundle holds no certificate")
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
	}
	return s, client, "https://" + s.Addr().String()
}

func TestServesProbesAndMetricsOverTLS(t *testing.T) {
	_, client, base := started(t, "")
	for path, wants := range map[string][]string{
		"/healthz": {"ok"},
		"/readyz":  {"ok"},
		"/metrics": {"shipgate_config_reload_errors_total", `shipgate_verification_lookups_total{source="store"} 0`,
			`shipgate_verification_lookups_total{source="memory"} 0`, "shipgate_registry_requests_total 0"},
	} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range wants {
			if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %d %.300q, want 200 holding %q", path, resp.StatusCode, body, want)
			}
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("GET %s over %s, want HTTP/2", path, resp.Proto)
		}
	}
}

func TestRefusesTLS11(t *testing.T) {
	_, client, base := started(t, "")
	tr := client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.MaxVersion = tls.VersionTLS11
	tr.TLSClientConfig.MinVersion = tls.VersionTLS10
	if _, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(base + "/healthz"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
}

func TestRefusesToStartOnAnInvalidConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(gatewayEnforce+"  modee: warn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := New(Options{ConfigFile: file, Addr: "127.0.0.1:0", CertDir: dir, StoreURL: "sqlite://" + filepath.Join(dir, "s.db"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "gateway.yaml:5") {
		t.Errorf("New = %v, want an error naming gateway.yaml:5", err)
	}
}

// TestConfigReloadsWithoutRestart changes the mode on disk and sees the
// next decision follow it; then breaks the file and sees the last good
// configuration stay, with the error counted.
func TestConfigReloadsWithoutRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(gatewayEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	_, client, base := started(t, file)
	review := latestDeployment(t)

	if r := validate(t, client, base, review); r.Allowed {
		t.Fatal("enforce mode allowed a latest image")
	}
	writeAtomically(t, file, gatewayWarn)
	waitFor(t, "warn mode to apply", func() bool { return validate(t, client, base, review).Allowed })

	writeAtomically(t, file, gatewayEnforce+"  mode: block\n")
	waitFor(t, "the reload error to be counted", func() bool {
		return strings.Contains(get(t, client, base+"/metrics"), "shipgate_config_reload_errors_total 1")
	})
	if r := validate(t, client, base, review); !r.Allowed {
		t.Error("a refused config change replaced the last good one")
	}
}

func latestDeployment(t *testing.T) []byte {
	t.Helper()
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"shop","name":"web","operation":"CREATE",
 "userInfo":{"username":"ci"},
 "object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},
  "spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:latest"}]}}}}}}`)
}

func validate(t *testing.T, client *http.Client, base string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, err := client.Post(base+"/validate?timeout=5s", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil {
		t.Fatalf("HTTP %d, not an AdmissionReview: %v", resp.StatusCode, err)
	}
	return review.Response
}

func get(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func writeAtomically(t *testing.T, file, content string) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 s; it bounds a wait, it asserts no timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}
