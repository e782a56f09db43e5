package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CanonicalTemplate returns deterministic JSON of o's pod template in which a
// manifest as a user wrote it and the same object as the API server sends it
// after defaulting and built-in admission are byte for byte equal. An
// approval requested ahead of time from a manifest must match what /validate
// later sees. o is never modified; the work is done on a deep copy.
//
// Template metadata keeps only labels and annotations (no name, namespace,
// uid, creationTimestamp, resourceVersion, generation, managedFields or
// ownerReferences), without the labels in controllerLabels.
//
// Fields the API server defaults (SetDefaults_* of
// k8s.io/kubernetes/pkg/apis/core/v1 and the +default markers of
// k8s.io/api) are cleared when they hold the default, so that writing the
// default and leaving it out are the same:
//
//   - pod spec: restartPolicy Always, dnsPolicy ClusterFirst, schedulerName
//     default-scheduler, terminationGracePeriodSeconds 30, an empty
//     securityContext; serviceAccountName "default" and the deprecated
//     serviceAccount, which conversion copies from serviceAccountName;
//     hostPort equal to containerPort under hostNetwork;
//   - containers of all three lists: imagePullPolicy always (it is derived
//     from the tag, which the image already says), terminationMessagePath
//     /dev/termination-log, terminationMessagePolicy File, port protocol TCP;
//     resource requests equal to the limit (a Pod defaults missing requests
//     to the limits); env fieldRef apiVersion v1, fileKeyRef optional false;
//   - probes: timeoutSeconds 1, periodSeconds 10, successThreshold 1,
//     failureThreshold 3; httpGet (probes and lifecycle hooks) scheme HTTP
//     and path "/"; grpc service "";
//   - volumes: a volume with no source is an emptyDir; defaultMode 420 of
//     configMap, secret, downwardAPI and projected volumes; downward API
//     fieldRef apiVersion v1; serviceAccountToken expirationSeconds 3600;
//     hostPath type ""; ephemeral claim volumeMode Filesystem; the in-tree
//     rbd, iscsi, azureDisk and scaleIO defaults;
//   - resource quantities are rounded up to milli-units, as the API server
//     does, and printed in canonical form ("0.5" → "500m", "1024Mi" → "1Gi").
//
// For a Pod, what admission plugins and Pod-only defaulting add is dropped
// too: nodeName; priority and preemptionPolicy (the Priority plugin derives
// both from priorityClassName); enableServiceLinks true; the tolerations
// node.kubernetes.io/not-ready and unreachable for 300 seconds; the
// service account token volume kube-api-access-* and its volumeMounts.
func CanonicalTemplate(o *Object) ([]byte, error) {
	if o == nil {
		return nil, errors.New("canonicalising template: no object")
	}
	src, err := o.PodTemplate()
	if err != nil {
		return nil, fmt.Errorf("canonicalising: %w", err)
	}
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      withoutControllerLabels(src.Labels),
			Annotations: maps.Clone(src.Annotations),
		},
		Spec: *src.Spec.DeepCopy(),
	}
	canonicalSpec(&t.Spec)
	if o.Kind == "Pod" {
		canonicalPod(&t.Spec)
	}
	b, err := json.Marshal(&t)
	if err != nil {
		return nil, fmt.Errorf("canonicalising %s template: %w", o.Kind, err)
	}
	return b, nil
}

// controllerLabels are the labels controllers and the API server add to a
// template that a user never wrote: pod-template-hash (a Deployment's
// ReplicaSets and their Pods) and the Job's selector labels, which the Job
// strategy adds on create.
var controllerLabels = []string{
	"pod-template-hash",
	"controller-uid",
	"batch.kubernetes.io/controller-uid",
	"job-name",
	"batch.kubernetes.io/job-name",
}

// withoutControllerLabels copies labels without controllerLabels.
func withoutControllerLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	for _, k := range controllerLabels {
		delete(out, k)
	}
	return out
}

// defaultTolerationSeconds is what the DefaultTolerationSeconds admission
// plugin gives the not-ready and unreachable tolerations it adds.
const defaultTolerationSeconds = 300

// serviceAccountVolumePrefix names the projected token volume the
// ServiceAccount admission plugin adds to every Pod.
const serviceAccountVolumePrefix = "kube-api-access-"

// canonicalPod drops what Pod-only defaulting and admission plugins add.
func canonicalPod(s *corev1.PodSpec) {
	s.NodeName = ""
	s.Priority = nil
	s.PreemptionPolicy = nil
	if s.EnableServiceLinks != nil && *s.EnableServiceLinks {
		s.EnableServiceLinks = nil
	}
	tolerations := s.Tolerations[:0]
	for _, t := range s.Tolerations {
		if !isDefaultToleration(t) {
			tolerations = append(tolerations, t)
		}
	}
	s.Tolerations = tolerations

	var tokenVolumes []string
	volumes := s.Volumes[:0]
	for _, v := range s.Volumes {
		if strings.HasPrefix(v.Name, serviceAccountVolumePrefix) && isTokenVolume(v) {
			tokenVolumes = append(tokenVolumes, v.Name)
			continue
		}
		volumes = append(volumes, v)
	}
	s.Volumes = volumes
	if len(tokenVolumes) == 0 {
		return
	}
	for i := range s.InitContainers {
		s.InitContainers[i].VolumeMounts = withoutMounts(s.InitContainers[i].VolumeMounts, tokenVolumes)
	}
	for i := range s.Containers {
		s.Containers[i].VolumeMounts = withoutMounts(s.Containers[i].VolumeMounts, tokenVolumes)
	}
	for i := range s.EphemeralContainers {
		c := &s.EphemeralContainers[i]
		c.VolumeMounts = withoutMounts(c.VolumeMounts, tokenVolumes)
	}
}

// isDefaultToleration reports whether t is one DefaultTolerationSeconds adds.
func isDefaultToleration(t corev1.Toleration) bool {
	return (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) &&
		t.Operator == corev1.TolerationOpExists && t.Value == "" &&
		t.Effect == corev1.TaintEffectNoExecute &&
		t.TolerationSeconds != nil && *t.TolerationSeconds == defaultTolerationSeconds
}

// isTokenVolume reports whether v has the shape of the ServiceAccount
// plugin's volume: projected, with a service account token source.
func isTokenVolume(v corev1.Volume) bool {
	if v.Projected == nil {
		return false
	}
	for _, src := range v.Projected.Sources {
		if src.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

// withoutMounts drops the mounts of the named volumes.
func withoutMounts(mounts []corev1.VolumeMount, volumes []string) []corev1.VolumeMount {
	out := mounts[:0]
	for _, m := range mounts {
		if !slices.Contains(volumes, m.Name) {
			out = append(out, m)
		}
	}
	return out
}
