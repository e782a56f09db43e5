package workload

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	web := "registry.example.com/shop/web:2.3.1"
	fluent := "fluent/fluent-bit:3.1@" + testDigest
	deployment := []Container{
		{Name: "migrate", Image: "registry.example.com/shop/migrate:1.4.2", Type: Init},
		{Name: "web", Image: web, Type: Regular},
		{Name: "worker", Image: web, Type: Regular},
		{Name: "envoy", Image: "docker.io/envoyproxy/envoy:v1.31.0", Type: Regular},
		{Name: "log-shipper", Image: fluent, Type: Regular},
	}
	deploymentImages := []string{"registry.example.com/shop/migrate:1.4.2", web, "docker.io/envoyproxy/envoy:v1.31.0", fluent}
	report := []Container{
		{Name: "fetch", Image: "registry.example.com/shop/report-fetch:1.0.0", Type: Init},
		{Name: "report", Image: "registry.example.com/shop/report:1.0.0", Type: Regular},
	}
	tests := map[string]struct {
		kind, file     string
		namespace      string
		display        string
		uid            string
		owner          string // Kind/name of the first ownerReference
		templateLabels int
		containers     []Container
		images         []string
	}{
		"a Deployment manifest: init container first, a shared image listed once": {
			kind: "Deployment", file: "deployment.json", namespace: "shop", display: "web",
			templateLabels: 2, containers: deployment, images: deploymentImages,
		},
		"a Deployment as the API server sends it": {
			kind: "Deployment", file: "deployment-defaulted.json", namespace: "shop", display: "web",
			uid: "0b7e3f6c-5d1a-4f7e-9c51-3e2d8a4b6f10", templateLabels: 2, containers: deployment, images: deploymentImages,
		},
		"a ReplicaSet owned by its Deployment": {
			kind: "ReplicaSet", file: "replicaset.json", namespace: "shop", display: "web-7d9c5c6b8f",
			uid: "6a1f0c2e-8b4d-4a59-bb7e-2f9d1c3e5a77", owner: "Deployment/web", templateLabels: 3,
			containers: deployment, images: deploymentImages,
		},
		"a Pod owned by the ReplicaSet: its own labels make the template": {
			kind: "Pod", file: "pod-owned.json", namespace: "shop", display: "web-7d9c5c6b8f-x2x9k",
			uid: "c41d9a7e-2f60-4b8e-a3d5-91f7e0b2c6d4", owner: "ReplicaSet/web-7d9c5c6b8f", templateLabels: 3,
			containers: deployment, images: deploymentImages,
		},
		"a bare Pod with only generateName shows it with a star": {
			kind: "Pod", file: "pod-bare.json", namespace: "shop", display: "debug-*", templateLabels: 2,
			containers: []Container{{Name: "shell", Image: "busybox", Type: Regular}, {Name: "curl", Image: "curlimages/curl:8.8.0", Type: Regular}},
			images:     []string{"busybox", "curlimages/curl:8.8.0"},
		},
		"a Pod with ephemeral containers lists them last": {
			kind: "Pod", file: "pod-ephemeral.json", namespace: "shop", display: "debug-k7w2q",
			uid: "9e2b4c71-0d3f-4a8a-b6e5-7c1f2d9a4e30", templateLabels: 2,
			containers: []Container{
				{Name: "shell", Image: "busybox", Type: Regular},
				{Name: "curl", Image: "curlimages/curl:8.8.0", Type: Regular},
				{Name: "debugger-x7k2", Image: "busybox:1.36", Type: Ephemeral},
			},
			images: []string{"busybox", "curlimages/curl:8.8.0", "busybox:1.36"},
		},
		"a StatefulSet": {
			kind: "StatefulSet", file: "statefulset.json", namespace: "shop", display: "db",
			uid: "2f4a6c8e-1b3d-4e5f-8a9b-0c1d2e3f4a5b", templateLabels: 1,
			containers: []Container{
				{Name: "init-permissions", Image: "registry.example.com/base/busybox:1.36.1", Type: Init},
				{Name: "postgres", Image: "postgres:16.4", Type: Regular},
				{Name: "exporter", Image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0", Type: Regular},
			},
			images: []string{"registry.example.com/base/busybox:1.36.1", "postgres:16.4", "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"},
		},
		"a DaemonSet": {
			kind: "DaemonSet", file: "daemonset.json", namespace: "monitoring", display: "node-exporter",
			uid: "7b9d1f3a-5c7e-4a0b-9d2f-4e6a8c0b2d4f", templateLabels: 1,
			containers: []Container{{Name: "node-exporter", Image: "quay.io/prometheus/node-exporter:v1.8.2", Type: Regular}},
			images:     []string{"quay.io/prometheus/node-exporter:v1.8.2"},
		},
		"a CronJob reads spec.jobTemplate.spec.template": {
			kind: "CronJob", file: "cronjob.json", namespace: "shop", display: "nightly-report",
			uid: "5d7f9b1c-3e5a-4c7e-b9d1-6f8a0c2e4b6d", templateLabels: 1, containers: report,
			images: []string{"registry.example.com/shop/report-fetch:1.0.0", "registry.example.com/shop/report:1.0.0"},
		},
		"a Job owned by its CronJob": {
			kind: "Job", file: "job.json", namespace: "shop", display: "nightly-report-29541780",
			uid: "8c0e2a4f-6b8d-4f1a-a3c5-7e9b1d3f5a7c", owner: "CronJob/nightly-report", templateLabels: 5, containers: report,
			images: []string{"registry.example.com/shop/report-fetch:1.0.0", "registry.example.com/shop/report:1.0.0"},
		},
		"a ReplicationController": {
			kind: "ReplicationController", file: "replicationcontroller.json", namespace: "shop", display: "legacy-frontend",
			uid: "1a3c5e7f-9b2d-4f6a-8c0e-2b4d6f8a0c1e", templateLabels: 1,
			containers: []Container{
				{Name: "frontend", Image: "registry.example.com/shop/legacy-frontend:0.9.7", Type: Regular},
				{Name: "nginx-exporter", Image: "nginx/nginx-prometheus-exporter:1.3.0", Type: Regular},
			},
			images: []string{"registry.example.com/shop/legacy-frontend:0.9.7", "nginx/nginx-prometheus-exporter:1.3.0"},
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			o := decodeFile(t, tt.kind, tt.file)
			if o.Kind != tt.kind || o.Namespace != tt.namespace || o.DisplayName() != tt.display || string(o.UID) != tt.uid {
				t.Errorf("identity = %s %s/%s uid %q, want %s %s/%s uid %q",
					o.Kind, o.Namespace, o.DisplayName(), o.UID, tt.kind, tt.namespace, tt.display, tt.uid)
			}
			var owner string
			if len(o.OwnerReferences) > 0 {
				owner = o.OwnerReferences[0].Kind + "/" + o.OwnerReferences[0].Name
			}
			if owner != tt.owner {
				t.Errorf("owner = %q, want %q", owner, tt.owner)
			}
			if got := podTemplate(t, o).Labels; len(got) != tt.templateLabels {
				t.Errorf("template labels = %v, want %d of them", got, tt.templateLabels)
			}
			if !slices.Equal(o.Containers, tt.containers) {
				t.Errorf("Containers = %+v\nwant %+v", o.Containers, tt.containers)
			}
			if got := o.Images(); !slices.Equal(got, tt.images) {
				t.Errorf("Images() = %q, want %q", got, tt.images)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		kind   string
		raw    string
		target error  // errors.Is target, when there is one
		want   string // a part of the message
	}{
		"an unknown kind": {
			kind: "Service", raw: `{"kind":"Service"}`, target: ErrUnsupportedKind, want: "decoding Service: unsupported kind",
		},
		"malformed JSON names the kind": {
			kind: "Deployment", raw: `{"kind":"Deployment","spec":{"template":`, want: "decoding Deployment: at /spec/template (byte 40): unexpected EOF",
		},
		"a wrong type names the kind": {
			kind: "CronJob", raw: `{"spec":{"jobTemplate":[]}}`, want: "decoding CronJob: at /spec/jobTemplate: cannot read an array as an object",
		},
		"a null object, as in a DELETE": {
			kind: "Pod", raw: " null\n", target: ErrNoObject, want: "decoding Pod: no object",
		},
		"an empty body": {
			kind: "Job", raw: "", target: ErrNoObject, want: "decoding Job: no object",
		},
		"an object of another kind": {
			kind: "Deployment", raw: `{"kind":"Pod","spec":{"containers":[{"name":"a","image":"b"}]}}`, want: `decoding Deployment: object is a "Pod"`,
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			o, err := Decode(tt.kind, []byte(tt.raw))
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", o)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("error %q does not wrap %q", err, tt.target)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeReplicationControllerWithoutTemplate(t *testing.T) {
	t.Parallel()
	raw := edit(t, testdata(t, "replicationcontroller.json"), `"template"`, `"templateWas"`)
	o := decodeBytes(t, "ReplicationController", raw)
	if len(o.Containers) != 0 || len(podTemplate(t, o).Spec.Containers) != 0 || o.Name != "legacy-frontend" {
		t.Errorf("Decode = %s with %d containers, want legacy-frontend with none", o.Name, len(o.Containers))
	}
}

func TestSupported(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"} {
		if !Supported(kind) {
			t.Errorf("Supported(%q) = false", kind)
		}
	}
	for _, kind := range []string{"", "pod", "Service", "PodTemplate", "Deployments"} {
		if Supported(kind) {
			t.Errorf("Supported(%q) = true", kind)
		}
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name, generateName, want string
	}{
		"a name is shown as is":                          {name: "web", want: "web"},
		"a name wins over the generateName it came from": {name: "web-abcde", generateName: "web-", want: "web-abcde"},
		"only a generateName is shown with a star":       {generateName: "web-7d9c5-", want: "web-7d9c5-*"},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			o := &Object{Name: tt.name, GenerateName: tt.generateName}
			if got := o.DisplayName(); got != tt.want {
				t.Errorf("DisplayName() = %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkDecodeDeployment decodes a Deployment as the API server sends it,
// managedFields and status included.
func BenchmarkDecodeDeployment(b *testing.B) {
	raw := testdata(b, "deployment-defaulted.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode("Deployment", raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalRawDeployment is the baseline the webhook is held to: a
// bare encoding/json decode of the same bytes as the raw object of an
// AdmissionReview.
func BenchmarkUnmarshalRawDeployment(b *testing.B) {
	raw := testdata(b, "deployment-defaulted.json")
	review := []byte(`{"request":{"object":` + string(raw) + `}}`)
	var v struct {
		Request struct {
			Object json.RawMessage `json:"object"`
		} `json:"request"`
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := json.Unmarshal(review, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeIsStrictUnlessPrevalidated: on its own Decode refuses what the
// API server's decoder would (duplicate members, invalid UTF-8, and it reads
// member names case-sensitively); Prevalidated skips only the checks a
// strict outer decoder has already made.
func TestDecodeIsStrictUnlessPrevalidated(t *testing.T) {
	t.Parallel()
	dup := []byte(`{"metadata":{"name":"a","name":"b"},"spec":{"containers":[{"name":"c","image":"x:1"}]}}`)
	if _, err := Decode("Pod", dup); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate member: error %v, want a refusal", err)
	}
	if _, err := Decode("Pod", []byte("{\"metadata\":{\"name\":\"\xff\"}}")); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: error %v, want a refusal", err)
	}
	o, err := Decode("Pod", []byte(`{"spec":{"containers":[{"name":"c","Image":"x:1"}]}}`))
	if err != nil || len(o.Containers) != 1 || o.Containers[0].Image != "" {
		t.Errorf(`"Image" read as the image: %+v, %v`, o, err)
	}
	if _, err := Decode("Pod", dup, Prevalidated()); err != nil {
		t.Errorf("Prevalidated still checked duplicates: %v", err)
	}
	// The template's own decodes, the names and the typed template, are
	// made with the same options.
	dupSpec := []byte(`{"spec":{"containers":[{"name":"c","image":"x:1","image":"x:2"}],"hostname":"a","hostname":"b"}}`)
	if _, err := Decode("Pod", dupSpec); err == nil {
		t.Error("a duplicate member in the spec was accepted")
	}
	o, err = Decode("Pod", dupSpec, Prevalidated())
	if err != nil {
		t.Fatalf("Prevalidated still checked the spec's duplicates: %v", err)
	}
	if _, err := o.PodTemplate(); err != nil {
		t.Errorf("Prevalidated: the typed template still checked duplicates: %v", err)
	}
}
