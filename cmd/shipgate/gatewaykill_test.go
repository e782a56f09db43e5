package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/server"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
)

// TestGatewaySIGKILLUnderLoad builds the shipgate binary and runs `shipgate
// serve` as a child on a SQLite store, enforcing and recording, with
// images signed in a loopback registry of the test's. Eight clients send
// rollouts over HTTPS; once enough were answered allowed the child is
// killed with SIGKILL, mid-load, and `shipgate audit verify` must pass on
// the store it left; then it is started again on the same store, twice.
// The third start must admit again and stop on SIGTERM, after which
// `shipgate audit verify --require-signed` must pass and every admission a
// client saw answered allowed must be in the log exactly once, by request
// uid. Counted, not timed.
func TestGatewaySIGKILLUnderLoad(t *testing.T) {
	const (
		clients = 8
		// perRound is how many admissions must have been acknowledged
		// before a round ends (with SIGKILL, or SIGTERM for the last).
		perRound = 150
		kills    = 2
		bound    = 120 * time.Second // keeps a broken build from hanging
	)
	dir := t.TempDir()
	bin := buildShipgate(t, dir)
	skey, vkey, err := audit.GenerateKey(server.CheckpointOrigin)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	writeFile(t, keyFile, skey+"\n")
	writeFile(t, pubFile, vkey+"\n")
	imgs := signedtest.New(t)
	ref, _ := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)
	cfg := filepath.Join(dir, "gateway.yaml")
	writeFile(t, cfg, fmt.Sprintf(`apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults: {mode: enforce, trust: [test]}
audit:
  checkpointKey: {file: %s}
  checkpointEvery: {records: 50, interval: 1s}
`, keyFile)+imgs.TrustYAML(t, "test"))
	storeURL := "sqlite://" + filepath.Join(dir, "shipgate.db")

	var (
		acked     []string // uids answered allowed, every round
		uids      atomic.Int64
		inFlight  []int // requests unanswered at each kill
		ackedKill []int // acknowledged admissions in each killed round
	)
	for round := 0; round <= kills; round++ {
		g := startGateway(t, bin, dir, cfg, storeURL, round)
		var (
			mu         sync.Mutex
			roundAck   []string
			fails      []string
			killed     atomic.Bool
			stop       atomic.Bool
			unanswered atomic.Int64
			wg         sync.WaitGroup
		)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					n := uids.Add(1)
					uid := fmt.Sprintf("kill-%d-%d", round, n)
					resp, err := g.admit(rollout(uid, fmt.Sprintf("web-%d", n), ref))
					mu.Lock()
					switch {
					case err != nil && killed.Load():
						unanswered.Add(1)
						mu.Unlock()
						return // the gateway is gone
					case err != nil:
						fails = append(fails, fmt.Sprintf("%s: %v", uid, err))
					case string(resp.UID) != uid:
						fails = append(fails, fmt.Sprintf("%s: answered for uid %q", uid, resp.UID))
					case !resp.Allowed:
						fails = append(fails, fmt.Sprintf("%s: refused with the store healthy: %+v", uid, resp.Result))
					default:
						roundAck = append(roundAck, uid)
					}
					mu.Unlock()
				}
			}()
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(roundAck) + len(fails) }
		for deadline := time.Now().Add(bound); count() < perRound && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		}
		if round < kills {
			killed.Store(true)
			if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			g.cmd.Wait()
		}
		stop.Store(true)
		wg.Wait()
		mu.Lock()
		if len(fails) > 0 {
			t.Errorf("round %d: %d requests failed; the first: %s\nthe gateway's log:\n%s", round, len(fails), strings.Join(fails[:min(len(fails), 5)], "\n"), g.tail())
		}
		if len(roundAck) < perRound {
			t.Fatalf("round %d: only %d admissions acknowledged in %v, want %d; the gateway's log:\n%s", round, len(roundAck), bound, perRound, g.tail())
		}
		acked = append(acked, roundAck...)
		mu.Unlock()
		if round < kills {
			inFlight, ackedKill = append(inFlight, int(unanswered.Load())), append(ackedKill, len(roundAck))
			// The store as the killed gateway left it, before anything
			// reopens it.
			if out, err := exec.Command(bin, "audit", "verify", "--store", storeURL, "--key", pubFile).CombinedOutput(); err != nil {
				t.Fatalf("after SIGKILL %d: shipgate audit verify: %v\n%s", round+1, err, out)
			}
			continue
		}
		// The last round ends gracefully: SIGTERM, which signs a last
		// checkpoint, so every record must be covered by a signature.
		if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := g.cmd.Wait(); err != nil {
			t.Errorf("the restarted gateway did not stop cleanly on SIGTERM: %v\n%s", err, g.tail())
		}
	}
	out, err := exec.Command(bin, "audit", "verify", "--store", storeURL, "--key", pubFile, "--require-signed").CombinedOutput()
	if err != nil {
		t.Fatalf("shipgate audit verify --require-signed after the last stop: %v\n%s", err, out)
	}

	db, err := store.Open(t.Context(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inLog := map[string]int{}
	rows, err := db.SQL().QueryContext(t.Context(), "SELECT request_uid FROM audit_log")
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid); err != nil {
			t.Fatal(err)
		}
		inLog[uid]++
		records++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, uid := range acked {
		if inLog[uid] != 1 {
			missing++
			if missing <= 10 {
				t.Errorf("%s was answered allowed; the log holds %d records of it", uid, inLog[uid])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged admissions are not in the log exactly once", missing, len(acked))
	}
	t.Logf("%d clients; %d SIGKILLs after %v acknowledged admissions, with %v requests unanswered at each kill; %d admissions acknowledged in all (the last round %d, then SIGTERM), %d of them not in the log exactly once; the log holds %d records; %s",
		clients, kills, ackedKill, inFlight, len(acked), len(acked)-sum(ackedKill), missing, records, strings.TrimSpace(string(out)))
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

// buildShipgate builds this package's binary into dir.
func buildShipgate(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "shipgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// gateway is a `shipgate serve` child and an HTTPS client for it.
type gateway struct {
	cmd    *exec.Cmd
	base   string
	client *http.Client
	log    string
}

// startGateway starts `shipgate serve` on a free loopback port and waits
// until it is ready; it is killed at cleanup if still running.
func startGateway(t *testing.T, bin, dir, cfg, storeURL string, n int) *gateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	certs := filepath.Join(dir, "certs")
	g := &gateway{base: "https://" + addr, log: filepath.Join(dir, fmt.Sprintf("shipgate-%d.log", n))}
	logFile, err := os.Create(g.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	g.cmd = exec.Command(bin, "serve", "--config", cfg, "--addr", addr, "--cert-dir", certs, "--store", storeURL, "--log-level", "warn", "--shutdown-grace", "10s")
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			g.cmd.Process.Kill()
			g.cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if g.client == nil {
			pem, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
			if err != nil {
				continue
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				continue
			}
			g.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16,
			}}
		}
		resp, err := g.client.Get(g.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
	}
	t.Fatalf("shipgate serve was not ready within 60 s; its log:\n%s", g.tail())
	return nil
}

// admit posts an AdmissionReview to /validate; anything but an HTTP 200
// AdmissionReview is an error.
func (g *gateway) admit(body []byte) (*admissionv1.AdmissionResponse, error) {
	resp, err := g.client.Post(g.base+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil {
		return nil, fmt.Errorf("not an AdmissionReview: %v", err)
	}
	return review.Response, nil
}

// tail is the end of the gateway's log.
func (g *gateway) tail() string {
	b, _ := os.ReadFile(g.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// rollout is a Deployment CREATE of shop/name running image.
func rollout(uid, name, image string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":%q,"kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},
 "namespace":"shop","name":%q,"operation":"CREATE","userInfo":{"username":"ci"},
 "object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"shop"},
  "spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}}}`, uid, name, name, image)
}
