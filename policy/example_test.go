package policy_test

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/policy"
)

func Example() {
	cluster := policy.NewBundle()
	cluster.AddModule("production.rego", `package shipgate.production

deny contains sprintf("container %s uses latest", [c.name]) if {
	some c in input.request.object.spec.containers
	endswith(c.image, ":latest")
}
`, policy.RegoAuto)
	team := policy.NewBundle()
	team.AddModule("team-a.rego", `package shipgate.namespaces["team-a"]

require_approval := {"approvers": 1, "groups": ["team-a-leads"], "reason": "team-a reviews every rollout"}
`, policy.RegoAuto)

	engine, err := policy.New(cluster, map[string]*policy.Bundle{"team-a": team})
	if err != nil {
		fmt.Println(err)
		return
	}
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1",
		"object":{"spec":{"containers":[{"name":"web","image":"nginx:latest"}]}}}}`)
	res, err := engine.Evaluate(context.Background(), "team-a", []string{"production"},
		&policy.Input{Review: review, Shipgate: policy.Facts{Namespace: policy.NamespaceFacts{Name: "team-a"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range res.Deny {
		fmt.Printf("deny (%s): %s\n", d.Set, d.Msg)
	}
	for _, a := range res.RequireApproval {
		fmt.Printf("approval (%s): %d of %v\n", a.Set, a.Approvers, a.Groups)
	}
	// Output:
	// deny (production): container web uses latest
	// approval (shipgate.namespaces.team-a): 1 of [team-a-leads]
}
