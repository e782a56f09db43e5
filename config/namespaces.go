package config

import "context"

// NamespaceLabels looks up a namespace's labels, which bindings match on.
// The webhook asks it once per admission; config/kube answers from an
// informer's cache.
type NamespaceLabels interface {
	Labels(ctx context.Context, namespace string) (map[string]string, error)
}

// StaticNamespaces is a fixed namespace → labels table, for tests, the demo
// and "shipgate check" run without a cluster.
type StaticNamespaces map[string]map[string]string

var _ NamespaceLabels = StaticNamespaces(nil)

// Labels returns the namespace's labels; an unknown namespace has none and
// is not an error. The map is the table's own: read only.
func (s StaticNamespaces) Labels(_ context.Context, namespace string) (map[string]string, error) {
	return s[namespace], nil
}
