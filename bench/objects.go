package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// namespace is where every benchmark object lives; the GatewayConfig binds
// it to the namespace's own policy set as well as the cluster's.
const namespace = "shop"

// The users that make the requests: a CI deployer for rollouts, and the
// kube-controller-manager controllers (by their service accounts, the
// kubeadm default) for what they create beneath a rollout.
const (
	deployerUser   = "system:serviceaccount:ci:deployer"
	deploymentCtrl = "system:serviceaccount:kube-system:deployment-controller"
	replicaSetCtrl = "system:serviceaccount:kube-system:replicaset-controller"
)

// images are the two distinct references a Deployment's five containers
// name: the application (three containers and the init container) and its
// proxy sidecar (one container).
type images struct {
	app, proxy string
}

// uidOf is the uid the loopback API server gives an object: derived from
// kind, namespace and name, so the harness can write owner references
// without asking and the API server can answer without storing anything.
func uidOf(kind, ns, name string) types.UID {
	h := sha256.Sum256([]byte(kind + "/" + ns + "/" + name))
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// baseTime is the creation time of every object: fixed, so runs compare.
var baseTime = metav1.NewTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))

func labels(app, version string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":    app,
		"app.kubernetes.io/version": version,
		"team":                      "payments",
		"cost-center":               "cc-4711",
	}
}

func annotations(app string) map[string]string {
	return map[string]string{
		"owner":   "payments@example.com",
		"runbook": "https://runbooks.example.com/" + app,
	}
}

// container is one container of the template, as a production team writes
// it: resources, probes, a locked-down security context, env from secrets.
func container(name, image string, port int32) corev1.Container {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP}},
			PeriodSeconds: 5, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	no, yes := false, true
	c := corev1.Container{
		Name:            name,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "LOG_LEVEL", Value: "info"},
			{Name: "PORT", Value: fmt.Sprint(port)},
			{Name: "DB_HOST", Value: "db.shop.svc.cluster.local"},
			{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "FEATURE_FLAGS", Value: "checkout-v2,search-ranking"},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		ReadinessProbe: probe("/ready"),
		LivenessProbe:  probe("/live"),
		StartupProbe:   probe("/live"),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "config", MountPath: "/etc/app"}},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	return c
}

// podTemplate is a Deployment's template: four containers and an init
// container naming two distinct images. restartedAt is what `kubectl
// rollout restart` writes; it makes an otherwise equal template new.
func podTemplate(app, version string, img images, restartedAt string) corev1.PodTemplateSpec {
	no, yes := false, true
	grace := int64(30)
	init := container("migrate", img.app, 9000)
	init.ReadinessProbe, init.LivenessProbe, init.StartupProbe, init.Ports = nil, nil, nil, nil
	sizeLimit := resource.MustParse("64Mi")
	mode := int32(420)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      labels(app, version),
			Annotations: map[string]string{"prometheus.io/scrape": "true"},
		},
		Spec: corev1.PodSpec{
			// One service account for the application, whichever
			// Deployment runs it: pull secrets are read per account.
			ServiceAccountName:            "checkout",
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: &grace,
			DNSPolicy:                     corev1.DNSClusterFirst,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			SchedulerName:                 "default-scheduler",
			PriorityClassName:             "business-critical",
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers: []corev1.Container{init},
			Containers: []corev1.Container{
				container(app, img.app, 8080),
				container("worker", img.app, 8081),
				container("events", img.app, 8082),
				container("envoy", img.proxy, 9901),
			},
			Volumes: []corev1.Volume{
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &sizeLimit}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}, DefaultMode: &mode}}},
			},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": app}},
			}},
			Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "shop", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
	if restartedAt != "" {
		tmpl.Annotations["kubectl.kubernetes.io/restartedAt"] = restartedAt
	}
	return tmpl
}

// managedFields is what the API server keeps on every object: a large
// part of what a webhook must read past.
func managedFields(manager string, op metav1.ManagedFieldsOperationType) []metav1.ManagedFieldsEntry {
	fields := `{"f:metadata":{"f:annotations":{".":{},"f:owner":{},"f:runbook":{}},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/version":{},"f:cost-center":{},"f:team":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:annotations":{".":{},"f:prometheus.io/scrape":{}},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/version":{},"f:cost-center":{},"f:team":{}}},"f:spec":{"f:automountServiceAccountToken":{},"f:containers":{"k:{\"name\":\"checkout\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{},"f:securityContext":{},"f:startupProbe":{},"f:volumeMounts":{}},"k:{\"name\":\"envoy\"}":{".":{},"f:env":{},"f:image":{},"f:name":{},"f:ports":{},"f:resources":{},"f:securityContext":{}}},"f:initContainers":{"k:{\"name\":\"migrate\"}":{".":{},"f:image":{},"f:name":{}}},"f:securityContext":{},"f:serviceAccountName":{},"f:tolerations":{},"f:topologySpreadConstraints":{},"f:volumes":{}}}}}`
	return []metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: op, APIVersion: "apps/v1", Time: &baseTime,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields),
	}}
}

// deployment is Deployment name at version, as the API server stores it.
func deployment(name, version string, img images, restartedAt string) *appsv1.Deployment {
	replicas := int32(3)
	history := int32(10)
	deadline := int32(600)
	maxU, maxS := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, UID: uidOf("Deployment", namespace, name),
			ResourceVersion: "128734", Generation: 8, CreationTimestamp: baseTime,
			Labels: labels(name, version), Annotations: annotations(name),
			ManagedFields: managedFields("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, RevisionHistoryLimit: &history, ProgressDeadlineSeconds: &deadline,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxU, MaxSurge: &maxS}},
			Template: podTemplate(name, version, img, restartedAt),
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 7, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, UpdatedReplicas: 3},
	}
}

// replicaSet is the ReplicaSet the deployment controller creates for d.
func replicaSet(d *appsv1.Deployment, hash string) *appsv1.ReplicaSet {
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels["pod-template-hash"] = hash
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels["pod-template-hash"] = hash
	yes := true
	lbl := map[string]string{}
	for k, v := range d.Labels {
		lbl[k] = v
	}
	lbl["pod-template-hash"] = hash
	return &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: namespace, CreationTimestamp: baseTime,
			Labels:      lbl,
			Annotations: map[string]string{"deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4", "deployment.kubernetes.io/revision": "9", "owner": "payments@example.com", "runbook": d.Annotations["runbook"]},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: &yes, BlockOwnerDeletion: &yes}},
			ManagedFields: managedFields("kube-controller-manager", metav1.ManagedFieldsOperationUpdate),
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: sel, Template: tmpl},
	}
}

// pod is a Pod of template tmpl: owned by the ReplicaSet rs (nil: a bare
// Pod), with the images as given (pinned ones, as /mutate leaves them).
func pod(name string, tmpl corev1.PodTemplateSpec, rs *appsv1.ReplicaSet, ann map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, CreationTimestamp: baseTime,
			Labels: tmpl.Labels, Annotations: tmpl.Annotations,
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	for k, v := range ann {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
	if rs != nil {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name,
			UID: uidOf("ReplicaSet", namespace, rs.Name), Controller: &yes, BlockOwnerDeletion: &yes}}
		p.GenerateName = rs.Name + "-"
	}
	// What the API server's defaulting adds to every Pod.
	p.Spec.EnableServiceLinks = ptr(true)
	p.Spec.PreemptionPolicy = ptr(corev1.PreemptLowerPriority)
	p.Spec.Priority = ptr(int32(1000000))
	return p
}

func ptr[T any](v T) *T { return &v }

// pinned rewrites every image of tmpl to repo:tag@digest, as /mutate pins
// a Pod's images before /validate sees it.
func pinned(tmpl corev1.PodTemplateSpec, digests map[string]string) corev1.PodTemplateSpec {
	out := *tmpl.DeepCopy()
	for _, cs := range [][]corev1.Container{out.Spec.InitContainers, out.Spec.Containers} {
		for i := range cs {
			if d, ok := digests[cs[i].Image]; ok {
				cs[i].Image += "@" + d
			}
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
