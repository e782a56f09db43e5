package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/workload"
)

// fuzzKinds are the kinds FuzzDecideReview picks from: every workload
// kind in its group, one in the wrong group, and one that is no workload.
var fuzzKinds = []metav1.GroupVersionKind{
	{Version: "v1", Kind: "Pod"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}, {Group: "batch", Version: "v1", Kind: "Job"},
	{Group: "batch", Version: "v1", Kind: "CronJob"}, {Version: "v1", Kind: "ReplicationController"},
	{Group: "example.com", Version: "v1", Kind: "Deployment"}, {Version: "v1", Kind: "Service"},
}

// fuzzGateway binds the example production policy (policies/) everywhere,
// so that every fuzzed rollout also goes through building the policy
// input and evaluating Rego over it.
const fuzzGateway = `apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults: {mode: enforce, policies: [production]}
namespaces:
- {match: {names: ["prod-*"], labels: {env: prod}}, mode: enforce, policies: [production]}
- {match: {names: ["dev-*"]}, mode: warn, policies: [production]}
- {match: {names: ["sandbox-*"]}, mode: audit, policies: [production]}
`

// productionEngine is a policy engine holding policies/production.rego as
// the cluster's set "production".
func productionEngine(t testing.TB) *policy.Engine {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "policies", "production.rego"))
	if err != nil {
		t.Fatal(err)
	}
	b := policy.NewBundle()
	b.AddModule("production.rego", string(src), policy.RegoV1)
	e, err := policy.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fuzzReview is the AdmissionReview FuzzDecideReview sends. An object
// that is not JSON is sent as a JSON string, which no workload is.
func fuzzReview(uid string, kind uint8, op, ns, sub, user string, dryRun bool, object, oldObject []byte) []byte {
	raw := func(b []byte) json.RawMessage {
		if len(b) == 0 || json.Valid(b) {
			return b
		}
		s, _ := json.Marshal(string(b))
		return s
	}
	req := map[string]any{
		"uid": uid, "kind": fuzzKinds[int(kind)%len(fuzzKinds)], "operation": op, "namespace": ns,
		"userInfo": map[string]any{"username": user}, "dryRun": dryRun,
	}
	if sub != "" {
		req["subResource"] = sub
	}
	if len(object) > 0 {
		req["object"] = raw(object)
	}
	if len(oldObject) > 0 {
		req["oldObject"] = raw(oldObject)
	}
	body, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	if err != nil {
		panic(err) // only strings, bytes and valid raw JSON go in
	}
	return body
}

// fuzzSeeds are the requests of testdata/requests FuzzDecideReview starts
// from: one of each kind and class. Not all 46: with every package of the
// binary instrumented, the fuzzer takes about 0.2 s to take in each seed,
// and all of them used the whole of CI's 10 s before any input was fuzzed.
var fuzzSeeds = []string{
	"deployment-create", "deployment-update-image", "deployment-create-latest-warn", "pod-create-inherited",
	"pod-ephemeral-latest", "replicaset-create-owner-missing", "statefulset-create", "daemonset-update-image",
	"job-create-bare", "cronjob-create-latest", "replicationcontroller-create", "crd-named-deployment",
}

// capture is the validator as the HTTP adapter calls it, keeping the last
// decision for the fuzz target to check (fuzz inputs run one at a time in
// each worker process).
type capture struct {
	v *Validator
	d *Decision
}

func (c *capture) Handle(ctx context.Context, req *Request) Response {
	c.d = c.v.Decide(ctx, req)
	return c.d.Response()
}

// FuzzDecideReview builds AdmissionReviews from fuzzed parts — kind,
// operation, namespace, subresource, user, dry run, and the object and old
// object as bytes — and sends each through the /validate HTTP adapter and
// the whole pipeline with the production policy. A review built this way
// always decodes, so the fuzzer spends its time in extraction,
// classification, the floor rules and Rego rather than in the JSON
// decoder's error paths. Nothing may panic; every answer is HTTP 200 and
// carries the request's uid; a refusal says why; and an object that cannot
// be read is refused in an enforced namespace, never waved through.
func FuzzDecideReview(f *testing.F) {
	for _, name := range fuzzSeeds {
		file := filepath.Join("testdata", "requests", name+".json")
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(b, &review); err != nil || review.Request == nil {
			f.Fatalf("%s: %v", file, err)
		}
		r := review.Request
		kind := uint8(len(fuzzKinds) - 1)
		for i, k := range fuzzKinds {
			if k.Group == r.Kind.Group && k.Kind == r.Kind.Kind {
				kind = uint8(i)
			}
		}
		compact := func(b []byte) []byte {
			var buf bytes.Buffer
			if json.Compact(&buf, b) != nil {
				return b
			}
			return buf.Bytes()
		}
		f.Add(kind, string(r.Operation), r.Namespace, r.SubResource, r.UserInfo.Username, r.DryRun != nil && *r.DryRun,
			compact(r.Object.Raw), compact(r.OldObject.Raw))
	}
	f.Add(uint8(1), "CREATE", "shop", "", "mallory", false, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"@@"}]}}}}`), []byte(nil))
	f.Add(uint8(0), "CREATE", "dev-x", "", "", false, []byte(`{"spec":{"containers":{"name":"a"}}}`), []byte(nil))
	f.Add(uint8(6), "UPDATE", "sandbox-x", "", "u", false, []byte(`{"spec":{"jobTemplate":[]}}`), []byte(`not json`))

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := config.Parse("gateway.yaml", []byte(fuzzGateway))
	if err != nil {
		f.Fatal(err)
	}
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithPolicy(productionEngine(f)), WithOwners(cluster),
		WithIDs(sequence()), WithNamespaceLabels(config.StaticNamespaces{"prod-payments": {"env": "prod"}}), WithLogger(quiet))
	c := &capture{v: v}
	h := Serve("validate", c, nil, nil, quiet)

	f.Fuzz(func(t *testing.T, kind uint8, op, ns, sub, user string, dryRun bool, object, oldObject []byte) {
		const uid = "fuzz-uid-1"
		body := fuzzReview(uid, kind, op, ns, sub, user, dryRun, object, oldObject)

		// Through HTTP: an answer with the uid, or a 400 for a review
		// the decoder refuses (invalid UTF-8 in a string, say).
		c.d = nil
		r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		req, derr := DecodeReview(body)
		if derr != nil {
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid AdmissionReview") {
				t.Fatalf("a review the decoder refuses (%v) got HTTP %d: %s", derr, rec.Code, rec.Body)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
			t.Fatalf("not an AdmissionReview answer (%v): %s", err, rec.Body)
		}
		resp := review.Response
		if resp.UID != uid {
			t.Fatalf("answer uid %q, want %q", resp.UID, uid)
		}
		if resp.Result == nil || (!resp.Allowed && (resp.Result.Code < 400 || !strings.HasPrefix(resp.Result.Message, "shipgate: ") ||
			!strings.Contains(resp.Result.Message, "(decision "))) {
			t.Fatalf("a refusal without a code and a message: %+v", resp.Result)
		}

		// The decision behind the answer.
		d := c.d
		if d == nil || d.ID == "" || d.UID != uid {
			t.Fatalf("decision id %q uid %q", d.ID, d.UID)
		}
		if d.Allowed == (d.Mode == config.ModeEnforce && len(d.Reasons) > 0) {
			t.Fatalf("allowed=%v in mode %s with reasons %q", d.Allowed, d.Mode, reasonMessages(d.Reasons))
		}
		for _, reason := range d.Reasons {
			if reason.Code == "" || strings.TrimSpace(reason.Message) == "" {
				t.Fatalf("a reason without a code or a message: %+v", reason)
			}
			if reason.Code == "internal-error" {
				t.Fatalf("the pipeline panicked: %s", reason.Message)
			}
		}
		// An object a judged request carries but nobody can read is
		// refused, with 400, in an enforced namespace.
		judged := workloadKind(req) != "" && (op == "CREATE" || op == "UPDATE") && (sub == "" || sub == "ephemeralcontainers") &&
			!d.Excluded
		if _, err := workload.Decode(workloadKind(req), req.Object.Raw, workload.Prevalidated()); judged && err != nil {
			if d.Mode == config.ModeEnforce && (d.Allowed || d.Code != http.StatusBadRequest) {
				t.Fatalf("an unreadable object (%v) was answered allowed=%v code=%d", err, d.Allowed, d.Code)
			}
			if len(d.Reasons) == 0 {
				t.Fatalf("an unreadable object (%v) without a reason", err)
			}
		}
	})
}
