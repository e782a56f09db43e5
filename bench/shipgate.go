package main

import (
	"context"
	"crypto/x509"
	"embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate/signer"
)

// policyFiles are the Rego both shipgate and the OPA peer load; OPA also
// gets system.rego, its AdmissionReview entry point.
//
//go:embed policies/*.rego
var policyFiles embed.FS

// writePolicies copies the policy sets into dir, with system.rego when
// withEntry.
func writePolicies(dir string, withEntry bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"baseline.rego", "shop.rego", "system.rego"} {
		if name == "system.rego" && !withEntry {
			continue
		}
		b, err := policyFiles.ReadFile("policies/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildShipgate builds this tree's shipgate into dir, as `make build`
// does.
func buildShipgate(root, dir string) (string, error) {
	bin := filepath.Join(dir, "shipgate")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/shipgate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building shipgate: %w", err)
	}
	return bin, nil
}

// gatewayConfig is the GatewayConfig the benchmark serves: enforce
// everywhere; the registry's images trusted when signed by the release key
// and test-attested by the CI key; the cluster's policy set everywhere and
// the shop namespace's own set there.
const gatewayConfig = `apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults:
  mode: enforce
  trust: [bench]
  policies: [baseline]
namespaces:
- match: {names: [%q]}
  mode: enforce
  policies: [baseline, shop]
trust:
- name: bench
  images: ["%s/**"]
  signatures:
    authorities:
    - name: release
      key:
        data: |
%s
  attestations:
  - predicateType: %s
    authorities:
    - name: ci
      key:
        data: |
%s
policies:
  directory: %s
verification:
  cacheSize: %d
`

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// startShipgate writes the config and starts `shipgate serve` on a
// loopback port with its own SQLite store in dir, talking to kubeconfig's
// API server.
func startShipgate(ctx context.Context, bin, dir, registryHost, kubeconfig, logLevel, debugAddr string, keys *signers, cacheSize int) (*server, error) {
	release, err := publicPEM(keys.release)
	if err != nil {
		return nil, err
	}
	ci, err := publicPEM(keys.ci)
	if err != nil {
		return nil, err
	}
	policies := filepath.Join(dir, "policies")
	if err := writePolicies(policies, false); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "gateway.yaml")
	cfg := fmt.Sprintf(gatewayConfig, namespace, registryHost, indent(release, 10), signer.TestResultPredicateType, indent(ci, 10), policies, cacheSize)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	certs := filepath.Join(dir, "certs")
	args := []string{"serve",
		"--config", cfgFile,
		"--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--cert-dir", certs,
		"--store", "sqlite://" + filepath.Join(dir, "shipgate.db"),
		"--kubeconfig", kubeconfig,
		"--log-level", logLevel,
		"--shutdown-grace", "5s",
	}
	if debugAddr != "" {
		args = append(args, "--debug-addr", debugAddr)
	}
	// The server runs from a copy written with write(2). A file just
	// written by Go's linker (through a shared mapping) has its pages in
	// the page cache in a form the kernel maps in larger pieces on each
	// fault: the same binary started with RssFile 56 MiB linked and 42 MiB
	// copied, or read from disk as from a container image's layer
	// (docs/performance.md).
	run := filepath.Join(dir, "shipgate")
	if err := copyFile(bin, run); err != nil {
		return nil, fmt.Errorf("copying the shipgate binary: %w", err)
	}
	s, err := startServer("shipgate", run, args, filepath.Join(dir, "shipgate.log"))
	if err != nil {
		return nil, err
	}
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.paths = map[string]string{"mutate": "/mutate?timeout=10s", "validate": "/validate?timeout=10s"}
	// The CA bundle appears once the server has generated it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pem, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
		if err == nil {
			s.roots = x509.NewCertPool()
			if s.roots.AppendCertsFromPEM(pem) {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop(time.Second)
			return nil, fmt.Errorf("shipgate wrote no CA bundle in %s; its log:\n%s", certs, tail(s.log, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.waitReady(ctx, s.base+"/readyz", 30*time.Second); err != nil {
		s.stop(time.Second)
		return nil, err
	}
	return s, nil
}

// copyFile copies the executable src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
