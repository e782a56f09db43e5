package server

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	kubeclient "github.com/shipgate/shipgate/internal/kube"
)

// kubeClient returns a client for the cluster shipgate serves: the given
// kubeconfig, or in-cluster config when running in a Pod, or nil when
// there is no cluster (local use, the demo).
func kubeClient(kubeconfig string) (*kubeclient.Client, error) {
	var cfg *rest.Config
	var err error
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err = rest.InClusterConfig()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading cluster config: %w", err)
	}
	cfg.UserAgent = "shipgate"
	// Admission answers must arrive within seconds; the client's own calls
	// are bounded by the request's context, these keep bursts from queuing.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubeclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating cluster client: %w", err)
	}
	return client, nil
}
