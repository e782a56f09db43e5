package workload_test

import (
	"fmt"

	"github.com/shipgate/shipgate/workload"
)

func ExampleParseImage() {
	img, err := workload.ParseImage("app:latest@sha256:6a1f0c2e8b4d4a59bb7e2f9d1c3e5a776a1f0c2e8b4d4a59bb7e2f9d1c3e5a77")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.Name())
	fmt.Println(img.Tag, img.IsLatest())
	// Output:
	// index.docker.io/library/app
	// latest true
}

func ExampleDecode() {
	pod := []byte(`{"kind":"Pod","metadata":{"generateName":"debug-","namespace":"shop"},
		"spec":{"initContainers":[{"name":"init","image":"busybox:1.36"}],
		"containers":[{"name":"shell","image":"busybox:1.36"},{"name":"curl","image":"curlimages/curl:8.8.0"}]}}`)
	obj, err := workload.Decode("Pod", pod)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(obj.Namespace, obj.DisplayName())
	for _, c := range obj.Containers {
		fmt.Println(c.Type, c.Name, c.Image)
	}
	fmt.Println(obj.Images())
	// Output:
	// shop debug-*
	// initContainer init busybox:1.36
	// container shell busybox:1.36
	// container curl curlimages/curl:8.8.0
	// [busybox:1.36 curlimages/curl:8.8.0]
}
