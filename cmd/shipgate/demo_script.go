package main

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// demoStep is one request the demo's API server sends.
type demoStep struct {
	Title       string
	Operation   string
	User        string
	Kind        string
	Group       string
	Namespace   string
	Name        string
	SubResource string
	DryRun      bool
	Object      any
	OldObject   any
	// Owner, when set, makes the object a controller-owned child of the
	// named stored object ("Kind/name" in the same namespace).
	Owner string
	// Raw, when set, is sent as the body instead of an AdmissionReview.
	Raw string
}

const (
	ciUser         = "system:serviceaccount:ci:deployer"
	deployCtrlUser = "system:serviceaccount:kube-system:deployment-controller"
	rsCtrlUser     = "system:serviceaccount:kube-system:replicaset-controller"
)

func demoContainers(images ...string) []corev1.Container {
	names := []string{"app", "sidecar", "metrics", "proxy"}
	cs := make([]corev1.Container, len(images))
	for i, img := range images {
		cs[i] = corev1.Container{Name: names[i%len(names)], Image: img}
	}
	return cs
}

func demoDeployment(ns, name string, replicas int32, images ...string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: demoContainers(images...)},
			},
		},
	}
}

func demoReplicaSet(ns, name string, d *appsv1.Deployment) *appsv1.ReplicaSet {
	tpl := *d.Spec.Template.DeepCopy()
	tpl.Labels["pod-template-hash"] = "7d9c5"
	return &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tpl.Labels},
		Spec:       appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: tpl},
	}
}

func demoPod(ns, generateName string, images ...string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: generateName, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: demoContainers(images...)},
	}
}

// demoScript is the story the demo tells.
func demoScript() []demoStep {
	web := demoDeployment("shop", "web", 2, "registry.example.com/shop/web:1.4.2", "registry.example.com/shop/envoy:1.31.0")
	web5 := demoDeployment("shop", "web", 5, "registry.example.com/shop/web:1.4.2", "registry.example.com/shop/envoy:1.31.0")
	rs := demoReplicaSet("shop", "web-7d9c5", web)
	cache := demoDeployment("shop", "cache", 1, "redis:latest")
	tracker := demoDeployment("shop", "tracker", 1, "ghcr.io/acme/tracker:2.1.0")
	tool := demoDeployment("dev-alice", "tool", 1, "nginx")
	pinnedLatest := demoDeployment("shop", "api", 2, "registry.example.com/shop/api:latest@sha256:0f5e2c48b1b35eb1e0a9d3e1c4b3d9d4f0e6c1a2b3c4d5e6f708192a3b4c5d6e")
	sysDS := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: demoContainers("agent:latest")},
		}},
	}
	return []demoStep{
		{Title: "CI creates Deployment shop/web, images pinned to version tags", Operation: "CREATE", User: ciUser,
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "web", Object: web},
		{Title: "the deployment controller creates its ReplicaSet", Operation: "CREATE", User: deployCtrlUser,
			Kind: "ReplicaSet", Group: "apps", Namespace: "shop", Name: "web-7d9c5", Object: rs, Owner: "Deployment/web"},
		{Title: "the ReplicaSet controller creates a Pod (generateName only)", Operation: "CREATE", User: rsCtrlUser,
			Kind: "Pod", Namespace: "shop", Object: demoPod("shop", "web-7d9c5-", "registry.example.com/shop/web:1.4.2", "registry.example.com/shop/envoy:1.31.0"),
			Owner: "ReplicaSet/web-7d9c5"},
		{Title: "someone creates a Pod claiming that ReplicaSet as owner", Operation: "CREATE", User: "alice",
			Kind: "Pod", Namespace: "shop", Object: demoPod("shop", "web-7d9c5-", "registry.example.com/shop/web:latest"),
			Owner: "ReplicaSet/web-7d9c5"},
		{Title: "kubectl scale deployment/web --replicas=5", Operation: "UPDATE", User: "alice",
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "web", Object: web5, OldObject: web},
		{Title: "CI creates Deployment shop/cache with redis:latest", Operation: "CREATE", User: ciUser,
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "cache", Object: cache},
		{Title: "CI creates Deployment shop/tracker from ghcr.io (the Rego policy)", Operation: "CREATE", User: ciUser,
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "tracker", Object: tracker},
		{Title: "CI creates Deployment shop/api with a digest behind the tag latest", Operation: "CREATE", User: ciUser,
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "api", Object: pinnedLatest},
		{Title: "the same, as kubectl apply --dry-run=server", Operation: "CREATE", User: ciUser, DryRun: true,
			Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "api", Object: pinnedLatest},
		{Title: "alice deploys an untagged image in dev-alice (warn mode)", Operation: "CREATE", User: "alice",
			Kind: "Deployment", Group: "apps", Namespace: "dev-alice", Name: "tool", Object: tool},
		{Title: "a node agent with a latest image in kube-system (excluded)", Operation: "CREATE", User: "cluster-admin",
			Kind: "DaemonSet", Group: "apps", Namespace: "kube-system", Name: "node-agent", Object: sysDS},
		{Title: "a body that is not an AdmissionReview", Raw: `{"kind":"Deployment"}`},
	}
}
