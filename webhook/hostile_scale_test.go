package webhook

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/config"
)

// bigDeploymentReview is an AdmissionReview of a Deployment in namespace ns
// whose pod spec is podSpec, with oldPodSpec as its old object on UPDATE.
func bigDeploymentReview(op, ns, podSpec, oldPodSpec string) []byte {
	obj := func(spec string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"big","namespace":"` + ns + `"},"spec":{"template":{"spec":` + spec + `}}}`
	}
	old := ""
	if oldPodSpec != "" {
		old = `,"oldObject":` + obj(oldPodSpec)
	}
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big-1",` +
		`"kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"` + ns + `","operation":"` + op + `",` +
		`"userInfo":{"username":"mallory"},"object":` + obj(podSpec) + old + `}}`)
}

// TestHostileInputAtScale: a Deployment of 10,000 containers through the
// whole pipeline with the production policy (Rego over every container),
// as an UPDATE against 10,000 old ones, in /mutate, and a review of almost
// 7 MiB: each is answered, HTTP 200 with the request's uid, the refusal's
// message capped. Counted, never timed.
func TestHostileInputAtScale(t *testing.T) {
	t.Parallel()
	containers := func(n int, image string) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = fmt.Sprintf(`{"name":"c%d","image":"%s"}`, i, image)
		}
		return `{"containers":[` + strings.Join(cs, ",") + `]}`
	}
	tenThousand := containers(10_000, "registry.example.com/shop/api:latest")
	huge := `{"containers":[{"name":"a","image":"registry.example.com/shop/api:latest","args":[` +
		strings.TrimSuffix(strings.Repeat(`"xxxxxxxxxxxxxx",`, (MaxBodyBytes-4096)/17), ",") + `]}]}`
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := config.Parse("gateway.yaml", []byte(fuzzGateway))
	if err != nil {
		t.Fatal(err)
	}
	get := func() *config.GatewayConfig { return cfg }
	validate := Serve("validate", NewValidator(get, WithPolicy(productionEngine(t)), WithOwners(cluster), WithIDs(sequence()), WithLogger(quiet)), nil, nil, quiet)
	mutate := Serve("mutate", NewMutator(get, WithIDs(sequence()), WithLogger(quiet)), nil, nil, quiet)

	tests := map[string]struct {
		webhook string
		body    []byte
		allowed bool
		says    string // in the message
	}{
		"10,000 containers with the production policy": {
			webhook: "validate", body: bigDeploymentReview("CREATE", "shop", tenThousand, ""),
			says: "more (decision ",
		},
		"10,000 containers changing 10,000 others": {
			webhook: "validate", body: bigDeploymentReview("UPDATE", "shop", tenThousand, containers(10_000, "registry.example.com/shop/api:1.0.0")),
			says: "more (decision ",
		},
		"10,000 containers in warn mode": {
			webhook: "validate", body: bigDeploymentReview("CREATE", "dev-alice", tenThousand, ""), allowed: true,
		},
		"10,000 containers at /mutate": {
			webhook: "mutate", body: bigDeploymentReview("CREATE", "shop", tenThousand, ""), allowed: true,
		},
		"a review of almost 7 MiB": {
			webhook: "validate", body: bigDeploymentReview("CREATE", "shop", huge, ""),
			says: `uses the tag latest`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if len(tc.body) > MaxBodyBytes {
				t.Fatalf("the review is %d bytes, over the cap", len(tc.body))
			}
			h := validate
			if tc.webhook == "mutate" {
				h = mutate
			}
			resp := postReview(t, h, "/"+tc.webhook, tc.body)
			if resp.UID != "big-1" || resp.Allowed != tc.allowed || resp.Result == nil {
				t.Fatalf("uid %q allowed=%v result %+v, want allowed=%v", resp.UID, resp.Allowed, resp.Result, tc.allowed)
			}
			if !strings.Contains(resp.Result.Message, tc.says) || len(resp.Result.Message) > 4096 {
				t.Errorf("message of %d bytes %.300q, want at most 4 KiB saying %q", len(resp.Result.Message), resp.Result.Message, tc.says)
			}
			if n := len(resp.Warnings); n > 2*maxListedReasons+2 {
				t.Errorf("%d warnings; they must be capped", n)
			}
			for k, v := range resp.AuditAnnotations {
				if len(v) > 4096 {
					t.Errorf("audit annotation %s is %d bytes; it must be capped", k, len(v))
				}
			}
		})
	}
}
