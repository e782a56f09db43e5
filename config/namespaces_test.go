package config

import "testing"

func TestStaticNamespaces(t *testing.T) {
	t.Parallel()
	var lookup NamespaceLabels = StaticNamespaces{"prod-api": {"env": "prod"}}
	tests := map[string]struct {
		namespace string
		want      string // labels["env"]
		count     int
	}{
		"a known namespace has its labels":           {"prod-api", "prod", 1},
		"an unknown namespace has none and no error": {"other", "", 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			labels, err := lookup.Labels(t.Context(), tt.namespace)
			if err != nil || labels["env"] != tt.want || len(labels) != tt.count {
				t.Errorf("Labels(%q) = %v, %v; want env=%q (%d labels), nil", tt.namespace, labels, err, tt.want, tt.count)
			}
		})
	}
}
