// Package kubetest gives tests a kube.Client over client-go's dynamic
// fake, which keeps objects in memory, records every call and lets a test
// answer or fail any of them (PrependReactor).
package kubetest

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/shipgate/shipgate/internal/kube"
)

// Scheme knows the kinds of kube's resources.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		authnv1.AddToScheme, authzv1.AddToScheme, coordinationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// New returns a Client over a fake holding objs, and the fake.
func New(objs ...runtime.Object) (*kube.Client, *dynamicfake.FakeDynamicClient) {
	fake := dynamicfake.NewSimpleDynamicClient(Scheme, objs...)
	return kube.NewFor(fake), fake
}

// Unstructured is obj as the fake keeps and returns objects, for a
// reactor's answer.
func Unstructured(obj runtime.Object) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(fmt.Sprintf("kubetest: %v", err))
	}
	u := &unstructured.Unstructured{Object: m}
	kinds, _, err := Scheme.ObjectKinds(obj)
	if err != nil {
		panic(fmt.Sprintf("kubetest: %v", err))
	}
	u.SetGroupVersionKind(kinds[0])
	return u
}

// Typed reads obj (an object a reactor was given, unstructured) into into.
func Typed(obj runtime.Object, into runtime.Object) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("kubetest: %T is not unstructured", obj)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}
