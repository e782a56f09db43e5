package main

import (
	"context"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// demoStep is one step of the story: a request the demo's API server
// sends (an AdmissionReview, or Raw), or something people do (Do).
type demoStep struct {
	// Section, when set, is a heading printed before the step.
	Section     string
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
	// Do, when set, is the whole step: a push, an approval, a read.
	Do func(ctx context.Context, out io.Writer) error
	// Then, when set, sees the outcome of an admission step.
	Then func(out io.Writer, o demoOutcome) error
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

func demoReplicaSet(ns, name, hash string, d *appsv1.Deployment) *appsv1.ReplicaSet {
	tpl := *d.Spec.Template.DeepCopy()
	tpl.Labels["pod-template-hash"] = hash
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

// createDeployment is user applying d, new.
func createDeployment(title, user string, d *appsv1.Deployment) demoStep {
	return demoStep{Title: title, Operation: "CREATE", User: user,
		Kind: "Deployment", Group: "apps", Namespace: d.Namespace, Name: d.Name, Object: d}
}

// createPod is a controller (or someone claiming to be one) creating a
// Pod owned by owner ("ReplicaSet/name").
func createPod(title, user, owner string, p *corev1.Pod) demoStep {
	return demoStep{Title: title, Operation: "CREATE", User: user,
		Kind: "Pod", Namespace: p.Namespace, Object: p, Owner: owner}
}
