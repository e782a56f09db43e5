package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// InstallOptions say how shipgate is installed.
type InstallOptions struct {
	// Config is the chart's `config:` value, the GatewayConfig without
	// apiVersion and kind.
	Config map[string]any
	// Values are more chart values (rbac.secrets, …), set beside config
	// and the webhook's URL.
	Values map[string]any
}

// InstallShipgate installs shipgate the way the chart does, except that the
// process runs on loopback (the binary StartCluster built): it renders the
// chart with a URL clientConfig and the run's CA, applies the chart's
// service account and RBAC, starts `shipgate serve` with the chart's
// config as that service account (key Secrets the config names must exist
// by then), and registers the chart's two webhook configurations.
func (c *Cluster) InstallShipgate(ctx context.Context, o InstallOptions) (*Shipgate, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Shipgate{c: c, name: "shipgate", Addr: hostPort(port)}
	s.URL = "https://" + s.Addr
	if s.client, err = tlsClient(c.CA.PEM); err != nil {
		return nil, err
	}
	values := map[string]any{}
	for k, v := range o.Values {
		values[k] = v
	}
	values["config"] = o.Config
	values["webhook"] = map[string]any{"url": s.URL, "caBundle": string(c.CA.PEM)}
	s.Manifest, err = c.RenderChart(ctx, values)
	if err != nil {
		return nil, err
	}
	if err := c.EnsureNamespace(ctx, Namespace, nil); err != nil {
		return nil, err
	}
	rbac := s.Manifest.Select("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
	if err := c.Apply(ctx, rbac, false); err != nil {
		return nil, fmt.Errorf("applying the chart's service account and RBAC: %w", err)
	}
	if err := s.serviceAccountKubeconfig(ctx); err != nil {
		return nil, err
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if s.CertFile, s.KeyFile, err = c.CA.Serving(c.Dir, "shipgate"); err != nil {
		return nil, err
	}
	s.StorePath = filepath.Join(c.Dir, "shipgate.db")
	s.StoreURL = "sqlite://" + s.StorePath
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	hooks := s.Manifest.Select("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
	if len(hooks) != 2 {
		return nil, fmt.Errorf("the rendered chart has %d webhook configurations, want 2", len(hooks))
	}
	if err := c.Apply(ctx, hooks, false); err != nil {
		return nil, fmt.Errorf("registering the chart's webhooks: %w", err)
	}
	return s, nil
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the chart's
// service account, so shipgate has exactly the chart's RBAC.
func (s *Shipgate) serviceAccountKubeconfig(ctx context.Context) error {
	sa, err := s.Manifest.One("ServiceAccount")
	if err != nil {
		return err
	}
	expiry := int64((24 * time.Hour).Seconds())
	tr, err := s.c.Admin.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, sa.GetName(),
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for service account %s/%s: %w", Namespace, sa.GetName(), err)
	}
	s.Kubeconfig = filepath.Join(s.c.Dir, "kubeconfig-shipgate-sa")
	return writeKubeconfig(s.Kubeconfig, s.c.APIServerURL, s.c.CA.PEM,
		"system:serviceaccount:"+Namespace+":"+sa.GetName(), tr.Status.Token)
}

// writeConfig writes the GatewayConfig out of the chart's ConfigMap.
func (s *Shipgate) writeConfig() error {
	cm, err := s.Manifest.One("ConfigMap")
	if err != nil {
		return err
	}
	cfg, ok, err := unstructured.NestedString(cm.Object, "data", "config.yaml")
	if err != nil || !ok {
		return fmt.Errorf("reading config.yaml from ConfigMap %s: found %v, %v", cm.GetName(), ok, err)
	}
	s.ConfigFile = filepath.Join(s.c.Dir, "config.yaml")
	if err := os.WriteFile(s.ConfigFile, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("writing the GatewayConfig: %w", err)
	}
	return nil
}

// EnsureNamespace creates a namespace with labels unless it exists.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// Apply server-side applies objects as the admin with kubectl; with dryRun
// the API server checks them (schema, defaulting, admission) and stores
// nothing.
func (c *Cluster) Apply(ctx context.Context, objs []*unstructured.Unstructured, dryRun bool) error {
	y, err := ToYAML(objs)
	if err != nil {
		return err
	}
	args := []string{"apply", "--server-side", "--field-manager=shipgate-e2e", "-f", "-"}
	if dryRun {
		args = append(args, "--dry-run=server")
	}
	_, err = c.MustKubectl(ctx, Admin, y, args...)
	return err
}
