package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shipgate/shipgate/config"
)

// update rewrites the golden responses: go test ./webhook -update
var update = flag.Bool("update", false, "rewrite testdata/golden from the current responses")

// existing is the cluster the tests pretend to have: owners by uid.
type existing map[types.UID]bool

func (e existing) OwnerExists(_ context.Context, _ string, ref metav1.OwnerReference) (bool, error) {
	return e[ref.UID], nil
}

var cluster = existing{
	"a1b2c3d4-0000-4000-8000-000000000001": true, // Deployment shop/web
	"a1b2c3d4-0000-4000-8000-000000000002": true, // ReplicaSet shop/web-7d9c5b8f4
	"a1b2c3d4-0000-4000-8000-000000000010": true, // StatefulSet shop/db
	"a1b2c3d4-0000-4000-8000-000000000012": true, // Job shop/report-29012345
	"a1b2c3d4-0000-4000-8000-000000000013": true, // CronJob shop/report
}

func testConfig(t testing.TB) *config.GatewayConfig {
	t.Helper()
	cfg, err := config.Load(filepath.Join("testdata", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sequence returns decision ids test-0001, test-0002, … so goldens are stable.
func sequence() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("test-%04d", n.Add(1)) }
}

func newTestValidator(t testing.TB) *Validator {
	cfg := testConfig(t)
	return NewValidator(func() *config.GatewayConfig { return cfg },
		WithOwners(cluster),
		WithIDs(sequence()),
		WithNamespaceLabels(config.StaticNamespaces{"prod-payments": {"env": "prod"}}),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

func readRequest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "requests", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		class    string
		allowed  bool
		code     int32
		warnings int
		message  string // a substring the denial or warnings must hold
	}{
		"deployment-create":                  {class: "rollout", allowed: true, code: 200},
		"deployment-create-latest":           {class: "rollout", code: 403, message: `container "api" image "registry.example.com/shop/api:latest" uses the tag latest`},
		"deployment-create-latest-dryrun":    {class: "rollout", code: 403, message: `container "worker" image "redis" has no tag or digest`},
		"deployment-create-latest-warn":      {class: "rollout", allowed: true, code: 200, warnings: 1, message: `shipgate: Deployment dev-alice/web: container "api" image "nginx" has no tag or digest`},
		"deployment-create-latest-audit":     {class: "rollout", allowed: true, code: 200},
		"deployment-create-latest-excluded":  {class: "ignore", allowed: true, code: 200},
		"deployment-create-latest-digest":    {class: "rollout", code: 403, message: "uses the tag latest"},
		"deployment-create-bad-ref":          {class: "rollout", code: 403, message: `container "api": parsing image "registry.example.com/Shop/API:1.0"`},
		"deployment-create-init-latest":      {class: "rollout", code: 403, message: `init container "migrate" image "registry.example.com/shop/migrate:latest"`},
		"deployment-create-prod":             {class: "rollout", allowed: true, code: 200},
		"deployment-update-scale":            {class: "ignore", allowed: true, code: 200},
		"deployment-update-labels":           {class: "ignore", allowed: true, code: 200},
		"deployment-update-image":            {class: "rollout", allowed: true, code: 200},
		"deployment-update-image-latest":     {class: "rollout", code: 403, message: "shipgate: Deployment shop/web: "},
		"deployment-update-status":           {class: "ignore", allowed: true, code: 200},
		"deployment-delete":                  {class: "ignore", allowed: true, code: 200},
		"replicaset-create-inherited":        {class: "inherited", allowed: true, code: 200},
		"replicaset-create-by-user":          {class: "rollout", code: 403, message: "ReplicaSet shop/web-7d9c5b8f4"},
		"replicaset-create-owner-missing":    {class: "rollout", code: 403, message: "uses the tag latest"},
		"pod-create-inherited":               {class: "inherited", allowed: true, code: 200},
		"pod-create-inherited-statefulset":   {class: "inherited", allowed: true, code: 200},
		"pod-create-inherited-job":           {class: "inherited", allowed: true, code: 200},
		"pod-create-claims-owner":            {class: "rollout", code: 403, message: `Pod shop/web-7d9c5b8f4-*: container "api" image "nginx:latest"`},
		"pod-create-bare-latest":             {class: "rollout", code: 403, message: "Pod shop/debug-*: "},
		"pod-update-image":                   {class: "rollout", code: 403, message: "Pod shop/web-7d9c5b8f4-x2x9z: "},
		"pod-update-labels":                  {class: "ignore", allowed: true, code: 200},
		"pod-update-status":                  {class: "ignore", allowed: true, code: 200},
		"pod-ephemeral-latest":               {class: "rollout", code: 403, message: `ephemeral container "debugger-7xk2p" image "busybox:latest"`},
		"pod-ephemeral-pinned":               {class: "rollout", allowed: true, code: 200},
		"statefulset-create":                 {class: "rollout", allowed: true, code: 200},
		"daemonset-create-untagged":          {class: "rollout", code: 403, message: `"registry.example.com/shop/agent" has no tag or digest`},
		"job-create-bare":                    {class: "rollout", allowed: true, code: 200},
		"job-create-inherited-cronjob":       {class: "inherited", allowed: true, code: 200},
		"cronjob-create-latest":              {class: "rollout", code: 403, message: "CronJob shop/report"},
		"replicationcontroller-create":       {class: "rollout", allowed: true, code: 200},
		"crd-named-deployment":               {class: "ignore", allowed: true, code: 200},
		"statefulset-update-image-latest":    {class: "rollout", code: 403, message: `StatefulSet shop/db: container "api" image "registry.example.com/shop/db:latest"`},
		"daemonset-update-image":             {class: "rollout", allowed: true, code: 200},
		"daemonset-update-labels":            {class: "ignore", allowed: true, code: 200},
		"job-update-suspend":                 {class: "ignore", allowed: true, code: 200},
		"cronjob-update-image":               {class: "rollout", allowed: true, code: 200},
		"cronjob-update-schedule":            {class: "ignore", allowed: true, code: 200},
		"replicationcontroller-update-scale": {class: "ignore", allowed: true, code: 200},
		"replicaset-update-by-controller":    {class: "ignore", allowed: true, code: 200},
		"replicaset-update-image-by-user":    {class: "rollout", code: 403, message: "ReplicaSet shop/web-7d9c5b8f4: "},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	if len(files) != len(tests) {
		t.Errorf("%d request files but %d cases: every file needs a case", len(files), len(tests))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := readRequest(t, name)

			// The pipeline's own view: the class and the reasons.
			req, err := DecodeReview(body)
			if err != nil {
				t.Fatal(err)
			}
			d := newTestValidator(t).Decide(t.Context(), req)
			if d.Class != tc.class {
				t.Errorf("class = %s (%s), want %s", d.Class, d.ClassReason, tc.class)
			}

			// What the API server gets, over HTTP, against the golden file.
			resp := postReview(t, Serve("validate", newTestValidator(t), nil, nil, nil), "/validate?timeout=10s", body)
			if resp.Allowed != tc.allowed || resp.Result.Code != tc.code {
				t.Errorf("allowed=%v code=%d, want allowed=%v code=%d (%s)", resp.Allowed, resp.Result.Code, tc.allowed, tc.code, resp.Result.Message)
			}
			if len(resp.Warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", resp.Warnings, tc.warnings)
			}
			if tc.message != "" && !strings.Contains(resp.Result.Message+strings.Join(resp.Warnings, "\n"), tc.message) {
				t.Errorf("message %q\nwarnings %q\nwant it to hold %q", resp.Result.Message, resp.Warnings, tc.message)
			}
			if resp.AuditAnnotations["decision-id"] != "test-0001" {
				t.Errorf("decision-id annotation = %q, want test-0001", resp.AuditAnnotations["decision-id"])
			}
			if !resp.Allowed && !strings.HasSuffix(resp.Result.Message, "(decision test-0001)") {
				t.Errorf("denial %q does not end with its decision id", resp.Result.Message)
			}
			if string(resp.UID) != string(req.UID) {
				t.Errorf("response uid %q, want the request's %q", resp.UID, req.UID)
			}
			checkGolden(t, filepath.Join("testdata", "golden", "validate", name+".json"), resp)
		})
	}
}

// postReview sends body to h and decodes the AdmissionResponse, failing
// unless the HTTP status is 200.
func postReview(t testing.TB, h http.Handler, target string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatalf("decoding answer: %v\n%s", err, rec.Body)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Response == nil {
		t.Fatalf("answer is not an admission.k8s.io/v1 AdmissionReview: %s", rec.Body)
	}
	return review.Response
}

// checkGolden compares v, as indented JSON, with the file; -update rewrites it.
func checkGolden(t *testing.T, file string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./webhook -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("response differs from %s (go test ./webhook -update rewrites it)\ngot:\n%s\nwant:\n%s", file, got, want)
	}
}
