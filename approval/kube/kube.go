// Package kube lends the shipgate CLI the current kubeconfig user's bearer
// credentials, so that `shipgate approvals` calls the gateway as the same
// person kubectl acts as: shipgate then checks that token with a
// TokenReview, and their permissions with a SubjectAccessReview.
package kube

import (
	"errors"
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoToken is returned for a kubeconfig user without bearer credentials
// (one that authenticates with a client certificate, say).
var ErrNoToken = errors.New("the kubeconfig user has no bearer token")

// Transport wraps base so every request carries the bearer credentials of
// the kubeconfig user: a token, a token file (re-read as it rotates), or
// what an exec or auth-provider plugin hands out. kubeconfig "" means the
// usual lookup ($KUBECONFIG, then ~/.kube/config); context "" the current
// context. Only the credentials are taken: the cluster's address, CA and
// any impersonation settings are not, as the gateway is another server.
func Transport(kubeconfig, context string, base http.RoundTripper) (http.RoundTripper, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	if cfg.BearerToken == "" && cfg.BearerTokenFile == "" && cfg.ExecProvider == nil && cfg.AuthProvider == nil {
		name := context
		if raw, err := cc.RawConfig(); err == nil && name == "" {
			name = raw.CurrentContext
		}
		return nil, fmt.Errorf("context %q: %w", name, ErrNoToken)
	}
	creds := &rest.Config{
		Host:                cfg.Host, // exec plugins may be told which cluster they serve
		TLSClientConfig:     rest.TLSClientConfig{CAData: cfg.CAData, CAFile: cfg.CAFile},
		BearerToken:         cfg.BearerToken,
		BearerTokenFile:     cfg.BearerTokenFile,
		ExecProvider:        cfg.ExecProvider,
		AuthProvider:        cfg.AuthProvider,
		AuthConfigPersister: cfg.AuthConfigPersister,
	}
	rt, err := rest.HTTPWrappersForConfig(creds, base)
	if err != nil {
		return nil, fmt.Errorf("using the kubeconfig user's credentials: %w", err)
	}
	return rt, nil
}
