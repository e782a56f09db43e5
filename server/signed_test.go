package server

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// signedNginx pushes an image to a loopback registry, signed and with
// passing tests attested, and returns the config lines that trust it (a
// trust policy "test", bound by defaults) and a Deployment review that
// runs it.
func signedNginx(t *testing.T) (trust string, review []byte) {
	t.Helper()
	s := signedtest.New(t)
	ref, _ := s.Push(t, "library/nginx", "1.27.3", signer.TestsPassed)
	review = []byte(strings.Replace(string(latestDeployment(t)), "nginx:latest", ref, 1))
	return s.TrustYAML(t, "test"), review
}

// withTrust adds "trust: [test]" to the defaults of a config that ends
// with its defaults block, then the trust section.
func withTrust(base, trust string) string {
	return base + "  trust: [test]\n" + trust
}
