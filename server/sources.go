package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shipgate/shipgate/config"
)

// readSource returns the bytes a config Source names: inline data, a file,
// or one key of a Kubernetes Secret (in ownNamespace when the reference
// names none).
func readSource(ctx context.Context, kube kubernetes.Interface, src *config.Source, ownNamespace string) ([]byte, error) {
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
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, src.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
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
