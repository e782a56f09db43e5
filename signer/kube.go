package signer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shipgate/shipgate/internal/kube"
)

// PullSecrets builds registry keychains from a pod's imagePullSecrets and
// its service account's, read through the API server (get on those
// Secrets and on the service account only), so shipgate reads a private
// image with the same credentials the kubelet will. Keychains are cached
// for a minute per namespace, service account and secret list, so a burst
// of Pods costs one set of reads.
type PullSecrets struct {
	client   *kube.Client
	fallback authn.Keychain
	ttl      time.Duration

	mu      sync.Mutex
	entries map[string]pullEntry
	// builds numbers each keychain built, so a rebuilt one (a secret
	// added, rotated or created after a failure) gets a registry client
	// of its own rather than the one that holds the old credentials.
	builds uint64
}

type pullEntry struct {
	kc      authn.Keychain
	key     string
	expires time.Time
}

// NewPullSecrets reads pull secrets through client; fallback (shipgate's
// own credentials, or nil for anonymous) is tried after them.
func NewPullSecrets(client *kube.Client, fallback authn.Keychain) *PullSecrets {
	return &PullSecrets{client: client, fallback: fallback, ttl: time.Minute, entries: map[string]pullEntry{}}
}

// For returns the keychain for a pod in namespace running as
// serviceAccount ("" is "default") with the named pull secrets, and the
// key that names it. The secrets keep the pod's order, which is the order
// their credentials are tried in for one registry key, as in the kubelet.
func (p *PullSecrets) For(ctx context.Context, namespace, serviceAccount string, secrets []string) (authn.Keychain, string, error) {
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	key := namespace + "/" + serviceAccount + "/" + strings.Join(secrets, ",")
	now := time.Now()
	p.mu.Lock()
	e, ok := p.entries[key]
	p.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.kc, e.key, nil
	}
	found, err := p.read(ctx, namespace, serviceAccount, secrets)
	if err != nil {
		return nil, "", fmt.Errorf("reading the pull secrets of service account %s/%s: %w", namespace, serviceAccount, err)
	}
	keys, err := pullKeychain(found)
	if err != nil {
		return nil, "", err
	}
	kc := pullChain{keys: keys, fallback: p.fallback}
	p.mu.Lock()
	if len(p.entries) >= maxPullers {
		clear(p.entries)
	}
	p.builds++
	built := fmt.Sprintf("%s#%d", key, p.builds)
	p.entries[key] = pullEntry{kc: kc, key: built, expires: now.Add(p.ttl)}
	p.mu.Unlock()
	return kc, built, nil
}

// read gets the named pull secrets and then those of the service account,
// in that order. A secret or service account that does not exist is
// skipped, as the kubelet skips it; any other failure is an error.
func (p *PullSecrets) read(ctx context.Context, namespace, serviceAccount string, names []string) ([]corev1.Secret, error) {
	var sa corev1.ServiceAccount
	switch err := p.client.Get(ctx, kube.ServiceAccounts, namespace, serviceAccount, &sa); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		for _, ref := range sa.ImagePullSecrets {
			names = append(names, ref.Name)
		}
	}
	var found []corev1.Secret
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		var s corev1.Secret
		switch err := p.client.Get(ctx, kube.Secrets, namespace, name, &s); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, err)
		default:
			found = append(found, s)
		}
	}
	return found, nil
}
