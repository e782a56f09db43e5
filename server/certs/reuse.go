package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// checkExisting tells why the files at paths cannot be kept for hosts at
// now, or returns nil when they can: ca.crt is one CA certificate, tls.crt
// one serving certificate that chains to it, tls.key its private key, every
// host is among the certificate's SANs and more than a third of its validity
// is left. The third leaves a certificate made for a year four months of
// restarts before it is replaced, and a short-lived one time to be seen.
func checkExisting(paths Paths, hosts []string, now time.Time) error {
	caPEM, err := os.ReadFile(paths.CAFile)
	if err != nil {
		return fmt.Errorf("reading CA: %w", err)
	}
	ca, err := parseOneCertificate(caPEM)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", paths.CAFile, err)
	}
	if !ca.IsCA {
		return fmt.Errorf("checking %s: not a CA certificate", paths.CAFile)
	}
	certPEM, err := os.ReadFile(paths.CertFile)
	if err != nil {
		return fmt.Errorf("reading serving certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(paths.KeyFile)
	if err != nil {
		return fmt.Errorf("reading serving key: %w", err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("loading %s and %s: %w", paths.CertFile, paths.KeyFile, err)
	}
	leaf, err := parseOneCertificate(certPEM)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", paths.CertFile, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("verifying %s: %w", paths.CertFile, err)
	}
	for _, h := range hosts {
		if !covers(leaf, h) {
			return fmt.Errorf("checking %s: %s is not among its names", paths.CertFile, h)
		}
	}
	lifetime, left := leaf.NotAfter.Sub(leaf.NotBefore), leaf.NotAfter.Sub(now)
	if left <= lifetime/3 {
		return fmt.Errorf("checking %s: %v of %v validity left", paths.CertFile, left.Round(time.Second), lifetime)
	}
	return nil
}

// parseOneCertificate parses PEM data holding exactly one certificate and
// nothing else.
func parseOneCertificate(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// covers reports whether host, as normalizeHosts writes it, is one of
// cert's SANs: an IP address among its IPAddresses, else a name among its
// DNSNames.
func covers(cert *x509.Certificate, host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		for _, c := range cert.IPAddresses {
			if c.Equal(ip) {
				return true
			}
		}
		return false
	}
	for _, n := range cert.DNSNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}
