package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"

	"github.com/shipgate/shipgate/config"
	kubeclient "github.com/shipgate/shipgate/internal/kube"
)

// readSource returns the bytes a config Source names: inline data, a file,
// or one key of a Kubernetes Secret (in ownNamespace when the reference
// names none).
func readSource(ctx context.Context, kube *kubeclient.Client, src *config.Source, ownNamespace string) ([]byte, error) {
	switch {
	case src == nil:
		return nil, errors.New("no source")
	case src.Data != "":
		return []byte(src.Data), nil
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src.File, err)
		}
		return b, nil
	case src.SecretRef != nil:
		if kube == nil {
			return nil, fmt.Errorf("secret %s/%s: no cluster configured", src.SecretRef.Namespace, src.SecretRef.Name)
		}
		ns := src.SecretRef.Namespace
		if ns == "" {
			ns = ownNamespace
		}
		var s corev1.Secret
		if err := kube.Get(ctx, kubeclient.Secrets, ns, src.SecretRef.Name, &s); err != nil {
			return nil, fmt.Errorf("reading secret %s/%s: %w", ns, src.SecretRef.Name, err)
		}
		v, ok := s.Data[src.SecretRef.Key]
		if !ok {
			return nil, fmt.Errorf("secret %s/%s has no key %q", ns, src.SecretRef.Name, src.SecretRef.Key)
		}
		return v, nil
	}
	return nil, errors.New("source names no data, file or secret")
}
