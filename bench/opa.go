package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// opaModule is the module the OPA peer is built from, at the version
// shipgate's go.mod requires, so both evaluate Rego with the same engine.
const opaModule = "github.com/open-policy-agent/opa"

// startOPA runs `opa run --server` with TLS on a loopback port, loaded with
// the benchmark's policy sets and the tutorial-style entry point, answering
// AdmissionReviews at "/" (the default decision, data.system.main).
func startOPA(ctx context.Context, bin, dir, logLevel string) (*server, error) {
	policies := filepath.Join(dir, "policies")
	if err := writePolicies(policies, true); err != nil {
		return nil, err
	}
	// The certificate lives in a directory of its own: OPA watches the
	// directories of its certificate files and reloads on every write
	// there, so a log file beside them (its own log, which records each
	// reload) makes it reload thousands of times a second.
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(tlsDir, "tls.crt"), filepath.Join(tlsDir, "tls.key")
	roots, err := selfSigned(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--server",
		"--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--log-level", logLevel,
		policies,
	}
	s, err := startServer("opa", bin, args, filepath.Join(dir, "opa.log"))
	if err != nil {
		return nil, err
	}
	s.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.paths = map[string]string{"mutate": "/", "validate": "/"}
	s.roots = roots
	if err := s.waitReady(ctx, s.base+"/health", 30*time.Second); err != nil {
		s.stop(time.Second)
		return nil, err
	}
	return s, nil
}

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and
// returns a pool that trusts it.
func selfSigned(certFile, keyFile string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool, nil
}
