package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names written by GenerateSelfSigned. They are the keys of a
// Kubernetes TLS Secret, so the same paths work for a mounted Secret.
const (
	CAFileName   = "ca.crt"
	CertFileName = "tls.crt"
	KeyFileName  = "tls.key"
)

const (
	// caCommonName names the generated CA.
	caCommonName = "shipgate-ca"
	// leafCommonName names the serving certificate; clients match hosts
	// against its SANs, never its CommonName.
	leafCommonName = "shipgate-webhook"
	// clockSkew backdates NotBefore so that a node whose clock is a few
	// minutes behind ours still accepts a certificate made a moment ago.
	clockSkew = 5 * time.Minute
)

// defaultHosts are always in the serving certificate, so that probes and
// port-forwards to the pod verify.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Paths locates a CA certificate, a serving certificate and its key on disk.
type Paths struct {
	CAFile, CertFile, KeyFile string
}

// pathsIn returns the Paths of the files GenerateSelfSigned writes in dir.
func pathsIn(dir string) Paths {
	return Paths{
		CAFile:   filepath.Join(dir, CAFileName),
		CertFile: filepath.Join(dir, CertFileName),
		KeyFile:  filepath.Join(dir, KeyFileName),
	}
}

// GenerateSelfSigned makes sure dir holds a CA (ca.crt) and a serving
// certificate (tls.crt) with its PKCS#8 key (tls.key, mode 0600) for hosts,
// valid for validity, and returns their paths. dir is created with mode 0700
// if missing. Files already there are kept when they form a valid chain,
// cover every host and have more than a third of their validity left;
// otherwise both the CA and the serving certificate are made anew.
// "localhost", "127.0.0.1" and "::1" are always covered.
func GenerateSelfSigned(dir string, hosts []string, validity time.Duration) (Paths, error) {
	return generateSelfSigned(dir, hosts, validity, time.Now())
}

// generateSelfSigned is GenerateSelfSigned at the given time.
func generateSelfSigned(dir string, hosts []string, validity time.Duration, now time.Time) (Paths, error) {
	if validity <= 0 {
		return Paths{}, fmt.Errorf("generating certificates in %s: validity %v is not positive", dir, validity)
	}
	hosts = normalizeHosts(hosts)
	paths := pathsIn(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Paths{}, fmt.Errorf("creating certificate directory: %w", err)
	}
	if checkExisting(paths, hosts, now) == nil {
		return paths, nil
	}
	caPEM, certPEM, keyPEM, err := generate(hosts, validity, now)
	if err != nil {
		return Paths{}, err
	}
	// The key goes before the certificate: a Reloader watching dir sees at
	// most one mismatched pair, which it rejects and then replaces.
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{paths.CAFile, caPEM, 0o644},
		{paths.KeyFile, keyPEM, 0o600},
		{paths.CertFile, certPEM, 0o644},
	} {
		if err := writeFileAtomic(f.path, f.data, f.perm); err != nil {
			return Paths{}, err
		}
	}
	return paths, nil
}

// Generate makes a CA and a serving certificate signed by it for hosts, valid
// for validity, and returns them PEM-encoded with the serving certificate's
// PKCS#8 private key. Hosts that parse as IP addresses become IP SANs, the
// others DNS SANs; "localhost", "127.0.0.1" and "::1" are always added.
func Generate(hosts []string, validity time.Duration) (caPEM, certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		return nil, nil, nil, fmt.Errorf("generating certificates: validity %v is not positive", validity)
	}
	return generate(normalizeHosts(hosts), validity, time.Now())
}

// generate makes the CA and serving certificate for already normalized
// hosts. Serial numbers are left nil: x509.CreateCertificate then picks a
// random RFC 5280 one.
func generate(hosts []string, validity time.Duration, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	notBefore, notAfter := now.Add(-clockSkew), now.Add(validity)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: caCommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: leafCommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encoding serving key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		nil
}

// normalizeHosts trims and deduplicates hosts, lower-cases DNS names, writes
// IP addresses in canonical form and appends the defaultHosts not given.
func normalizeHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts)+len(defaultHosts))
	for _, h := range slices.Concat(hosts, defaultHosts) {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(h)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory and a rename, so that a reader sees the old file or the new
// one, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
