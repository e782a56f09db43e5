package webhook

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/workload"
)

const baselineRego = `package shipgate.baseline

deny contains msg if {
	some c in input.request.object.spec.template.spec.containers
	startswith(c.image, "docker.io/")
	msg := sprintf("container %q: images from docker.io are not allowed here", [c.name])
}

warn contains "no team label" if {
	not input.request.object.metadata.labels.owner
}
`

const releaseRego = `package shipgate.release

require_approval := {"approvers": 2, "groups": ["release-managers"], "reason": "image change"} if {
	input.shipgate.workload.imagesChanged
}
`

const shopRego = `package shipgate.namespaces.shop

deny contains "shop allows no more than 2 replicas" if {
	input.request.object.spec.replicas > 2
}
`

func policyValidator(t *testing.T, gateway string) *Validator {
	t.Helper()
	clusterPolicy := policy.NewBundle()
	clusterPolicy.AddModule("baseline.rego", baselineRego, policy.RegoV1)
	clusterPolicy.AddModule("release.rego", releaseRego, policy.RegoV1)
	shop := policy.NewBundle()
	shop.AddModule("shop.rego", shopRego, policy.RegoV1)
	e, err := policy.New(clusterPolicy, map[string]*policy.Bundle{"shop": shop})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("gateway.yaml", []byte(gateway))
	if err != nil {
		t.Fatal(err)
	}
	return NewValidator(func() *config.GatewayConfig { return cfg }, WithPolicy(e), WithOwners(cluster),
		WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

func TestPolicyJoinsTheDecision(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"
	tests := map[string]struct {
		gateway, request string
		allowed          bool
		code             int32
		says             []string // in the reasons
		warns            []string
	}{
		"a cluster set denies and warns": {
			gateway: head + "defaults: {mode: enforce, policies: [baseline]}\nexcludedNamespaces: []\n", request: "deployment-create-prod",
			code: 403, says: []string{`container "proxy": images from docker.io are not allowed here`}, warns: []string{"no team label (policy baseline)"},
		},
		"the namespace's own policy adds a denial": {
			gateway: head + "defaults: {mode: enforce}\n", request: "deployment-create",
			code: 403, says: []string{"shop allows no more than 2 replicas"},
		},
		"an approval asked for refuses the rollout": {
			gateway: head + "defaults: {mode: enforce, policies: [release]}\n", request: "deployment-create-prod",
			code: 403, says: []string{"policy release requires approval by 2 distinct people from release-managers (image change)"},
		},
		"an unknown set fails closed in enforce mode": {
			gateway: head + "defaults: {mode: enforce, policies: [nope]}\n", request: "deployment-create-prod",
			code: 500, says: []string{`evaluating policy: evaluating policy set "nope"`},
		},
		"and warns in warn mode": {
			gateway: head + "defaults: {mode: warn, policies: [nope]}\n", request: "deployment-create-prod",
			allowed: true, code: 500, says: []string{`evaluating policy set "nope"`},
		},
		"the binding's approval rule refuses until approvals exist": {
			gateway: head + "defaults: {mode: enforce, approval: {approvers: 2, groups: [release-managers], expiry: {pending: 72h, approved: 24h}}}\n",
			request: "deployment-create-prod", code: 403,
			says: []string{"the namespace binding requires approval by 2 distinct people from release-managers"},
		},
		"a scale evaluates nothing": {
			gateway: head + "defaults: {mode: enforce, policies: [baseline]}\n", request: "deployment-update-scale",
			allowed: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeReview(readRequest(t, tc.request))
			if err != nil {
				t.Fatal(err)
			}
			d := policyValidator(t, tc.gateway).Decide(t.Context(), req)
			reasons := strings.Join(reasonMessages(d.Reasons), "\n")
			if d.Allowed != tc.allowed || (tc.code != 0 && d.Code != tc.code) {
				t.Errorf("allowed=%v code=%d, want allowed=%v code=%d\n%s", d.Allowed, d.Code, tc.allowed, tc.code, reasons)
			}
			for _, s := range tc.says {
				if !strings.Contains(reasons, s) {
					t.Errorf("reasons lack %q:\n%s", s, reasons)
				}
			}
			for _, w := range tc.warns {
				if !strings.Contains(strings.Join(d.Warnings, "\n"), w) {
					t.Errorf("warnings %q lack %q", d.Warnings, w)
				}
			}
			for _, r := range d.Reasons {
				if strings.HasPrefix(r.Code, "policy:") && d.PolicyRevision == "" {
					t.Error("a policy decision names no policy revision")
				}
			}
		})
	}
}

// TestImagesChanged: an UPDATE that changes the template but keeps every
// image asks policy for no image-change approval; one that changes an image
// does; both when /validate decides and when `policy eval` builds the input.
func TestImagesChanged(t *testing.T) {
	t.Parallel()
	const gateway = "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, policies: [release]}\n"
	var review map[string]any
	if err := json.Unmarshal(readRequest(t, "deployment-update-image"), &review); err != nil {
		t.Fatal(err)
	}
	request := review["request"].(map[string]any)
	containers := func(o string) []any {
		return request[o].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	}
	changed, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	// The same images as before, and an environment variable added: still a
	// rollout, no image change.
	for i, c := range containers("object") {
		containers("oldObject")[i].(map[string]any)["image"] = c.(map[string]any)["image"]
	}
	first := containers("object")[0].(map[string]any)
	first["env"] = append([]any{map[string]any{"name": "LOG_LEVEL", "value": "debug"}}, first["env"].([]any)...)
	same, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		raw  []byte
		want bool
	}{"an image changed": {changed, true}, "the template changed, no image": {same, false}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeReview(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			d := policyValidator(t, gateway).Decide(t.Context(), req)
			if d.Class != "rollout" {
				t.Fatalf("class %s (%s), want rollout", d.Class, d.ClassReason)
			}
			asked := strings.Contains(strings.Join(reasonMessages(d.Reasons), "\n"), "image change")
			if asked != tc.want {
				t.Errorf("the image-change approval was asked for: %v, want %v (reasons %v)", asked, tc.want, reasonMessages(d.Reasons))
			}
			obj, err := workload.Decode("Deployment", req.Object.Raw)
			if err != nil {
				t.Fatal(err)
			}
			fresh := &Decision{Kind: d.Kind, Name: d.Name, Class: d.Class} // as policy eval has it: no old object read
			if in := PolicyInput(req, fresh, obj, nil, nil); in.Shipgate.Workload.ImagesChanged != tc.want {
				t.Errorf("PolicyInput: imagesChanged %v, want %v", in.Shipgate.Workload.ImagesChanged, tc.want)
			}
		})
	}
}
