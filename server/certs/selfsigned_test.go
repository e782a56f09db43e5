package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGenerateSelfSignedChainVerifiesForEachHost(t *testing.T) {
	t.Parallel()
	hosts := []string{"shipgate.shipgate-system.svc", "Shipgate.Example.COM", "10.0.0.7", "fd00::1"}
	paths, err := GenerateSelfSigned(t.TempDir(), hosts, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, leaf := readChain(t, paths)

	if ca.Subject.CommonName != "shipgate-ca" || !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: CN %q, IsCA %v, KeyUsage %v; want shipgate-ca, a CA that signs certificates",
			ca.Subject.CommonName, ca.IsCA, ca.KeyUsage)
	}
	if leaf.IsCA || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("serving certificate: IsCA %v, ExtKeyUsage %v; want a server-auth leaf", leaf.IsCA, leaf.ExtKeyUsage)
	}
	for _, k := range []*x509.Certificate{ca, leaf} {
		pub, ok := k.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", k.Subject.CommonName, k.PublicKey)
		}
	}
	if len(leaf.DNSNames) != 3 || len(leaf.IPAddresses) != 4 {
		t.Errorf("SANs: DNS %v, IP %v; want 3 names (defaults added once) and 4 addresses", leaf.DNSNames, leaf.IPAddresses)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	verify := func(host string) error {
		_, err := leaf.Verify(x509.VerifyOptions{
			DNSName:   host,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		return err
	}
	for _, host := range append(hosts, "localhost", "127.0.0.1", "::1") {
		if err := verify(host); err != nil {
			t.Errorf("verifying for %s: %v", host, err)
		}
	}
	for _, host := range []string{"other.shipgate-system.svc", "10.0.0.8"} {
		if verify(host) == nil {
			t.Errorf("certificate verifies for %s, which was not asked for", host)
		}
	}
}

func TestGenerateSelfSignedFileModes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup func(t *testing.T, dir string)
	}{
		"directory missing": {},
		"a world-readable stale key already there": {
			setup: func(t *testing.T, dir string) {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("stale"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nested", "certs")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			paths, err := GenerateSelfSigned(dir, nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			wantModes := map[string]os.FileMode{dir: 0o700 | os.ModeDir, paths.KeyFile: 0o600}
			for path, want := range wantModes {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
				}
			}
			keyPEM, err := os.ReadFile(paths.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parsePKCS8(keyPEM); err != nil {
				t.Errorf("tls.key: %v", err)
			}
		})
	}
}

func TestGenerateSelfSignedReusesGoodFiles(t *testing.T) {
	t.Parallel()
	hosts := []string{"shipgate.shipgate-system.svc", "10.96.0.10"}
	tests := map[string]struct {
		hosts []string
		later time.Duration // how long after the first run the second one is
		spoil func(t *testing.T, p Paths)
		reuse bool
	}{
		"same hosts, just made":                {hosts: hosts, reuse: true},
		"same hosts reordered, upper-cased":    {hosts: []string{"10.96.0.10", "::1", "SHIPGATE.shipgate-system.svc"}, reuse: true},
		"fewer hosts":                          {hosts: hosts[:1], reuse: true},
		"half the validity gone":               {hosts: hosts, later: 30 * time.Minute, reuse: true},
		"less than a third of validity left":   {hosts: hosts, later: 45 * time.Minute},
		"expired":                              {hosts: hosts, later: 2 * time.Hour},
		"a host the certificate does not name": {hosts: append(slices.Clone(hosts), "shipgate.example.com")},
		"key replaced by another pair's": {hosts: hosts, spoil: func(t *testing.T, p Paths) {
			_, _, key, err := Generate(nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p.KeyFile, key)
		}},
		"CA replaced by another CA": {hosts: hosts, spoil: func(t *testing.T, p Paths) {
			ca, _, _, err := Generate(nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p.CAFile, ca)
		}},
		"CA missing": {hosts: hosts, spoil: func(t *testing.T, p Paths) {
			if err := os.Remove(p.CAFile); err != nil {
				t.Fatal(err)
			}
		}},
		"serving certificate followed by another": {hosts: hosts, spoil: func(t *testing.T, p Paths) {
			writeFile(t, p.CertFile, append(readFile(t, p.CertFile), readFile(t, p.CAFile)...))
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, now := t.TempDir(), time.Now()
			first, err := generateSelfSigned(dir, hosts, time.Hour, now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.spoil != nil {
				tt.spoil(t, first)
			}
			before, _ := os.ReadFile(first.CAFile) // nil when spoil removed it

			later := now.Add(tt.later)
			second, err := generateSelfSigned(dir, tt.hosts, time.Hour, later)
			if err != nil {
				t.Fatal(err)
			}
			if second != first {
				t.Errorf("paths changed from %+v to %+v", first, second)
			}
			if reused := bytes.Equal(before, readFile(t, second.CAFile)); reused != tt.reuse {
				t.Fatalf("CA kept: %v, want %v", reused, tt.reuse)
			}
			if err := checkExisting(second, normalizeHosts(tt.hosts), later); err != nil {
				t.Errorf("files after the second run are not good: %v", err)
			}
		})
	}
}

func TestGenerateRejectsNonPositiveValidity(t *testing.T) {
	t.Parallel()
	for _, validity := range []time.Duration{0, -time.Hour} {
		if _, _, _, err := Generate(nil, validity); err == nil {
			t.Errorf("Generate with validity %v: no error", validity)
		}
		if _, err := GenerateSelfSigned(t.TempDir(), nil, validity); err == nil {
			t.Errorf("GenerateSelfSigned with validity %v: no error", validity)
		}
	}
}

func TestGenerateInMemory(t *testing.T) {
	t.Parallel()
	caPEM, certPEM, keyPEM, err := Generate([]string{"webhook.local"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(certPEM), "-----BEGIN "); n != 1 {
		t.Errorf("certificate PEM has %d blocks, want the leaf only", n)
	}
	key, err := parsePKCS8(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseOneCertificate(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseOneCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("key does not belong to the serving certificate")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("serving certificate not signed by the CA: %v", err)
	}
}

// readChain parses the CA and serving certificate GenerateSelfSigned wrote.
func readChain(t *testing.T, p Paths) (ca, leaf *x509.Certificate) {
	t.Helper()
	ca, err := parseOneCertificate(readFile(t, p.CAFile))
	if err != nil {
		t.Fatalf("ca.crt: %v", err)
	}
	leaf, err = parseOneCertificate(readFile(t, p.CertFile))
	if err != nil {
		t.Fatalf("tls.crt: %v", err)
	}
	return ca, leaf
}

// parsePKCS8 parses a "PRIVATE KEY" PEM block holding a PKCS#8 ECDSA key.
func parsePKCS8(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errNotPKCS8
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errNotPKCS8
	}
	return k, nil
}

var errNotPKCS8 = errors.New("not a PKCS#8 PEM ECDSA key")

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile replaces path by a rename, as an operator's tooling would.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
