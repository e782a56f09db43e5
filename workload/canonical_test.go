package workload

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func canonical(t *testing.T, o *Object) []byte {
	t.Helper()
	b, err := CanonicalTemplate(o)
	if err != nil {
		t.Fatalf("CanonicalTemplate: %v", err)
	}
	return b
}

// TestCanonicalTemplateMatchesDefaulted checks the promise approvals rest
// on: what a user wrote and what the API server made of it canonicalise to
// the same bytes, and so does what a controller creates from it.
func TestCanonicalTemplateMatchesDefaulted(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		kind, file         string
		otherKind, another string
	}{
		"a Deployment manifest and the Deployment the API server stored": {
			kind: "Deployment", file: "deployment.json", otherKind: "Deployment", another: "deployment-defaulted.json",
		},
		"a Deployment and the ReplicaSet its controller created": {
			kind: "Deployment", file: "deployment.json", otherKind: "ReplicaSet", another: "replicaset.json",
		},
		"a Deployment and a Pod of its ReplicaSet, after Pod defaulting and admission": {
			kind: "Deployment", file: "deployment.json", otherKind: "Pod", another: "pod-owned.json",
		},
		"a bare Pod manifest and the Pod the API server admitted": {
			kind: "Pod", file: "pod-bare.json", otherKind: "Pod", another: "pod-bare-defaulted.json",
		},
		"a CronJob and the Job its controller created": {
			kind: "CronJob", file: "cronjob.json", otherKind: "Job", another: "job.json",
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			a := canonical(t, decodeFile(t, tt.kind, tt.file))
			b := canonical(t, decodeFile(t, tt.otherKind, tt.another))
			if !bytes.Equal(a, b) {
				t.Errorf("canonical templates differ:\n%s\n%s", a, b)
			}
		})
	}
}

// TestCanonicalTemplateGolden pins the canonical bytes: approvals already
// granted carry fingerprints over them, so any change here invalidates
// them and must be deliberate. UPDATE_GOLDEN=true rewrites the file.
func TestCanonicalTemplateGolden(t *testing.T) {
	t.Parallel()
	got := canonical(t, decodeFile(t, "Deployment", "deployment-defaulted.json"))
	golden := filepath.Join("testdata", "deployment.canonical.json")
	if os.Getenv("UPDATE_GOLDEN") == "true" {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("canonical template changed:\n got %s\nwant %s", got, want)
	}
	for _, dropped := range []string{"imagePullPolicy", "terminationMessagePath", "creationTimestamp", `"TCP"`, "defaultMode", "schedulerName", `"serviceAccount"`} {
		if bytes.Contains(got, []byte(dropped)) {
			t.Errorf("canonical template keeps %s: %s", dropped, got)
		}
	}
}

func TestCanonicalTemplatePodAdditions(t *testing.T) {
	t.Parallel()
	got := string(canonical(t, decodeFile(t, "Pod", "pod-ephemeral.json")))
	for _, dropped := range []string{"kube-api-access", "node.kubernetes.io/not-ready", "worker-2", "priority", "enableServiceLinks", `"requests"`} {
		if strings.Contains(got, dropped) {
			t.Errorf("canonical Pod template keeps %s: %s", dropped, got)
		}
	}
	if !strings.Contains(got, `"ephemeralContainers":[{"name":"debugger-x7k2","image":"busybox:1.36"`) {
		t.Errorf("canonical Pod template lost its ephemeral container: %s", got)
	}
}

func TestCanonicalTemplateDoesNotModify(t *testing.T) {
	t.Parallel()
	for _, f := range []struct{ kind, file string }{{"Deployment", "deployment-defaulted.json"}, {"Pod", "pod-ephemeral.json"}} {
		o := decodeFile(t, f.kind, f.file)
		before := podTemplate(t, o).DeepCopy()
		first := canonical(t, o)
		if !equality.Semantic.DeepEqual(*before, *podTemplate(t, o)) {
			t.Errorf("CanonicalTemplate modified the %s", f.kind)
		}
		if second := canonical(t, o); !bytes.Equal(first, second) {
			t.Errorf("CanonicalTemplate of the %s is not deterministic", f.kind)
		}
	}
	if _, err := CanonicalTemplate(nil); err == nil {
		t.Error("CanonicalTemplate(nil) succeeded")
	}
}

// TestCanonicalTemplateDefaults writes each default the API server fills
// in, and each value that is not the default, into a minimal template: the
// first must leave the canonical bytes alone, the second must change them.
func TestCanonicalTemplateDefaults(t *testing.T) {
	t.Parallel()
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	str := func(v string) *string { return &v }
	ctr := func(s *corev1.PodSpec) *corev1.Container { return &s.Containers[0] }
	tests := map[string]struct {
		edit    func(s *corev1.PodSpec)
		changes bool
	}{
		"restartPolicy Always":                  {edit: func(s *corev1.PodSpec) { s.RestartPolicy = corev1.RestartPolicyAlways }},
		"restartPolicy OnFailure":               {edit: func(s *corev1.PodSpec) { s.RestartPolicy = corev1.RestartPolicyOnFailure }, changes: true},
		"dnsPolicy ClusterFirst":                {edit: func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSClusterFirst }},
		"dnsPolicy Default":                     {edit: func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSDefault }, changes: true},
		"schedulerName default-scheduler":       {edit: func(s *corev1.PodSpec) { s.SchedulerName = "default-scheduler" }},
		"another scheduler":                     {edit: func(s *corev1.PodSpec) { s.SchedulerName = "bin-packer" }, changes: true},
		"terminationGracePeriodSeconds 30":      {edit: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = i64(30) }},
		"terminationGracePeriodSeconds 60":      {edit: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = i64(60) }, changes: true},
		"an empty securityContext":              {edit: func(s *corev1.PodSpec) { s.SecurityContext = &corev1.PodSecurityContext{} }},
		"runAsUser":                             {edit: func(s *corev1.PodSpec) { s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: i64(1000)} }, changes: true},
		"serviceAccountName default":            {edit: func(s *corev1.PodSpec) { s.ServiceAccountName = "default" }},
		"the deprecated serviceAccount default": {edit: func(s *corev1.PodSpec) { s.DeprecatedServiceAccount = "default" }},
		"another service account":               {edit: func(s *corev1.PodSpec) { s.ServiceAccountName = "builder" }, changes: true},
		"another service account, deprecated spelling": {
			edit: func(s *corev1.PodSpec) { s.DeprecatedServiceAccount = "builder" }, changes: true,
		},
		"imagePullPolicy Never":            {edit: func(s *corev1.PodSpec) { ctr(s).ImagePullPolicy = corev1.PullNever }},
		"terminationMessagePath default":   {edit: func(s *corev1.PodSpec) { ctr(s).TerminationMessagePath = "/dev/termination-log" }},
		"terminationMessagePath elsewhere": {edit: func(s *corev1.PodSpec) { ctr(s).TerminationMessagePath = "/tmp/log" }, changes: true},
		"terminationMessagePolicy File":    {edit: func(s *corev1.PodSpec) { ctr(s).TerminationMessagePolicy = corev1.TerminationMessageReadFile }},
		"terminationMessagePolicy FallbackToLogsOnError": {
			edit: func(s *corev1.PodSpec) {
				ctr(s).TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
			}, changes: true,
		},
		"port protocol TCP": {edit: func(s *corev1.PodSpec) { ctr(s).Ports[0].Protocol = corev1.ProtocolTCP }},
		"port protocol UDP": {edit: func(s *corev1.PodSpec) { ctr(s).Ports[0].Protocol = corev1.ProtocolUDP }, changes: true},
		"probe defaults": {edit: func(s *corev1.PodSpec) {
			p := ctr(s).LivenessProbe
			p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold = 1, 10, 1, 3
			p.HTTPGet.Scheme, p.HTTPGet.Path = corev1.URISchemeHTTP, "/"
		}},
		"probe period 20":        {edit: func(s *corev1.PodSpec) { ctr(s).LivenessProbe.PeriodSeconds = 20 }, changes: true},
		"probe scheme HTTPS":     {edit: func(s *corev1.PodSpec) { ctr(s).LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS }, changes: true},
		"fieldRef apiVersion v1": {edit: func(s *corev1.PodSpec) { ctr(s).Env[0].ValueFrom.FieldRef.APIVersion = "v1" }},
		"a request equal to the limit": {edit: func(s *corev1.PodSpec) {
			ctr(s).Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
		}},
		"a request below the limit": {edit: func(s *corev1.PodSpec) {
			ctr(s).Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
		}, changes: true},
		"a limit written as 0.5": {edit: func(s *corev1.PodSpec) {
			ctr(s).Resources.Limits[corev1.ResourceCPU] = resource.MustParse("0.5")
		}},
		"a limit finer than milli-units rounds up as the API server does": {edit: func(s *corev1.PodSpec) {
			ctr(s).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("127.9999")
		}},
		"another limit": {edit: func(s *corev1.PodSpec) {
			ctr(s).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("129")
		}, changes: true},
		"configMap defaultMode 420":  {edit: func(s *corev1.PodSpec) { s.Volumes[0].ConfigMap.DefaultMode = i32(0o644) }},
		"configMap defaultMode 0400": {edit: func(s *corev1.PodSpec) { s.Volumes[0].ConfigMap.DefaultMode = i32(0o400) }, changes: true},
		"a volume without a source is an emptyDir": {edit: func(s *corev1.PodSpec) {
			s.Volumes[2].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}},
		"a sized emptyDir": {edit: func(s *corev1.PodSpec) {
			size := resource.MustParse("1Gi")
			s.Volumes[2].EmptyDir = &corev1.EmptyDirVolumeSource{SizeLimit: &size}
		}, changes: true},
		"hostPath type unset": {edit: func(s *corev1.PodSpec) {
			t := corev1.HostPathUnset
			s.Volumes[1].HostPath.Type = &t
		}},
		"grpc service empty": {edit: func(s *corev1.PodSpec) { ctr(s).ReadinessProbe.GRPC.Service = str("") }},
		"grpc service named": {edit: func(s *corev1.PodSpec) { ctr(s).ReadinessProbe.GRPC.Service = str("health") }, changes: true},
		"an env value":       {edit: func(s *corev1.PodSpec) { ctr(s).Env[0].ValueFrom, ctr(s).Env[0].Value = nil, "x" }, changes: true},
		"an image":           {edit: func(s *corev1.PodSpec) { ctr(s).Image = "registry.example.com/app:2" }, changes: true},
	}
	base := func() *Object {
		return NewObject("Deployment", metav1.ObjectMeta{}, corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/app:1",
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128"),
				}},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
				{Name: "scratch"},
			},
		}})
	}
	want := canonical(t, base())
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			o := base()
			tt.edit(&podTemplate(t, o).Spec)
			got := canonical(t, o)
			if changed := !bytes.Equal(got, want); changed != tt.changes {
				t.Errorf("canonical bytes changed = %v, want %v:\n got %s\nbase %s", changed, tt.changes, got, want)
			}
		})
	}
}
