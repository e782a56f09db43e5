package config_test

import (
	"errors"
	"fmt"

	"github.com/shipgate/shipgate/config"
)

func ExampleParse() {
	_, err := config.Parse("gateway.yaml", []byte(`apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
namespaces:
- match: {names: ["dev-*"]}
  mode: warn
- match: {names: ["prod-*"]}
  mode: block
  modee: enforce
`))
	fmt.Println(err)

	var e *config.Error
	if errors.As(err, &e) {
		fmt.Println("first problem on line", e.Line)
	}
	// Output:
	// gateway.yaml:8: field modee not found in type config.Binding
	// first problem on line 8
}

func ExampleGatewayConfig_Resolve() {
	c := config.Default()
	for _, ns := range []string{"kube-system", "dev-alice", "prod-api", "payments"} {
		r := c.Resolve(ns, map[string]string{"env": "prod"})
		if r.Excluded {
			fmt.Printf("%s: excluded\n", ns)
			continue
		}
		fmt.Printf("%s: binding %d, %s, approval %v\n", ns, r.Index, r.Binding.Mode, r.Binding.Approval != nil)
	}
	// Output:
	// kube-system: excluded
	// dev-alice: binding 0, warn, approval false
	// prod-api: binding 2, enforce, approval true
	// payments: binding -1, enforce, approval false
}
