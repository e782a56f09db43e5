package workload

import (
	"slices"
	"testing"
)

func TestImagePointers(t *testing.T) {
	t.Parallel()
	pod := []byte(`{"kind":"Pod","metadata":{"name":"p"},"spec":{"initContainers":[{"name":"i","image":"a"}],"containers":[{"name":"c0","image":"b"},{"name":"c1","image":"c"}],"ephemeralContainers":[{"name":"e","image":"d"}]}}`)
	dep := []byte(`{"kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"c0","image":"b"}],"initContainers":[{"name":"i","image":"a"}]}}}}`)
	cron := []byte(`{"kind":"CronJob","metadata":{"name":"c"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c0","image":"b"}]}}}}}}`)
	tests := map[string]struct {
		kind string
		raw  []byte
		want []string
	}{
		"a pod's lists in spec order": {"Pod", pod, []string{"/spec/initContainers/0/image", "/spec/containers/0/image", "/spec/containers/1/image", "/spec/ephemeralContainers/0/image"}},
		"a deployment's template":     {"Deployment", dep, []string{"/spec/template/spec/initContainers/0/image", "/spec/template/spec/containers/0/image"}},
		"a cronjob's job template":    {"CronJob", cron, []string{"/spec/jobTemplate/spec/template/spec/containers/0/image"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := Decode(tt.kind, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.ImagePointers(); !slices.Equal(got, tt.want) {
				t.Errorf("ImagePointers() = %q, want %q", got, tt.want)
			}
		})
	}
}
