package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// startTimeout bounds how long each component may take to become ready; on
// two busy cores the API server's first start takes tens of seconds.
const startTimeout = 3 * time.Minute

// startEtcd starts a one-member etcd on two free loopback ports and waits
// for /health.
func (c *Cluster) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	clientURL, peerURL := "http://"+hostPort(client), "http://"+hostPort(peer)
	p, err := c.start("etcd", c.Bins.Etcd, []string{
		"--name=e2e",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
		// A throwaway store: durability is not what is tested, and fsync on
		// a shared disk slows every write the API server makes.
		"--unsafe-no-fsync",
		"--log-level=warn",
	})
	if err != nil {
		return err
	}
	c.etcdURL = clientURL
	return waitFor(ctx, "etcd /health", p, startTimeout, func(ctx context.Context) error {
		return httpOK(ctx, clientURL+"/health", `"health":"true"`)
	})
}

// startAPIServer starts kube-apiserver with the token file, RBAC and Node
// authorization, service account tokens signed by the run's key, serving
// on 127.0.0.1 with a certificate from the run's CA, and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	certFile, keyFile, err := c.CA.Serving(c.Dir, "apiserver")
	if err != nil {
		return err
	}
	saKey, saPub, err := ServiceAccountKey(c.Dir)
	if err != nil {
		return err
	}
	c.saKey = saKey
	tokens, err := writeTokenFile(c.Dir, c.Users)
	if err != nil {
		return err
	}
	c.APIServerURL = "https://" + hostPort(port)
	p, err := c.start("kube-apiserver", c.Bins.APIServer, []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--token-auth-file=" + tokens,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		// The "kubernetes" Service's endpoints would be 127.0.0.1, which
		// endpoint validation refuses; nothing here needs them.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	})
	if err != nil {
		return err
	}
	cfg, err := c.RESTConfig(Admin)
	if err != nil {
		return err
	}
	if c.Admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("making the admin client: %w", err)
	}
	for name := range c.Users {
		if err := writeKubeconfig(c.Kubeconfig(name), c.APIServerURL, c.CA.PEM, name, c.Users[name].Token); err != nil {
			return err
		}
	}
	return waitFor(ctx, "kube-apiserver /readyz", p, startTimeout, func(ctx context.Context) error {
		body, err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("GET /readyz: %w: %s", err, body)
		}
		return nil
	})
}

// startControllerManager starts kube-controller-manager, each controller
// acting as its own service account (as in a real cluster, and as
// shipgate's inheritance rules expect), and waits until the service account
// controller has made the default namespace's "default" account.
func (c *Cluster) startControllerManager(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	kubeconfig := c.Kubeconfig(ControllerManager)
	p, err := c.start("kube-controller-manager", c.Bins.ControllerManager, []string{
		"--kubeconfig=" + kubeconfig,
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.saKey,
		"--root-ca-file=" + c.CA.CertFile,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.Dir, "kcm-certs"),
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, "the default service account (kube-controller-manager running)", p, startTimeout, func(ctx context.Context) error {
		_, err := c.Admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// httpOK GETs url and checks the status is 200 and the body contains want.
func httpOK(ctx context.Context, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
