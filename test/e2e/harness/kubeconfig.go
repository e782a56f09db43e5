package harness

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig to path for a user that authenticates with a
// bearer token and trusts the run's CA.
func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing the kubeconfig of %s: %w", user, err)
	}
	return nil
}

// Kubeconfig is the path of the kubeconfig for a user of the token file,
// written when the cluster started.
func (c *Cluster) Kubeconfig(user string) string {
	return filepath.Join(c.Dir, "kubeconfig-"+sanitize(user))
}

// RESTConfig is a client config for a user of the token file.
func (c *Cluster) RESTConfig(user string) (*rest.Config, error) {
	u, ok := c.Users[user]
	if !ok {
		return nil, fmt.Errorf("no user %q in the token file", user)
	}
	return &rest.Config{
		Host:            c.APIServerURL,
		BearerToken:     u.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CA.PEM},
		UserAgent:       "shipgate-e2e",
		QPS:             50,
		Burst:           100,
	}, nil
}

// sanitize makes a user name fit in a file name.
func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch == ':' || ch == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. Another program could
// take it before it is used; on loopback in a test run that is rare.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
