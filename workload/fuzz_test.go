package workload

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
)

// fuzzKinds are the kinds FuzzDecode picks from: every supported kind and
// one that is not.
var fuzzKinds = []string{"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController", "Service"}

func FuzzDecode(f *testing.F) {
	seeds := map[string]string{
		"Deployment": "deployment-defaulted.json", "ReplicaSet": "replicaset.json", "Pod": "pod-ephemeral.json",
		"StatefulSet": "statefulset.json", "DaemonSet": "daemonset.json", "Job": "job.json",
		"CronJob": "cronjob.json", "ReplicationController": "replicationcontroller.json",
	}
	for i, kind := range fuzzKinds {
		if file, ok := seeds[kind]; ok {
			f.Add(uint8(i), testdata(f, file))
		}
		f.Add(uint8(i), []byte(`{"kind":"`+kind+`","spec":{"template":{"spec":{"containers":[{"name":"a","image":"b"}]}}}}`))
	}
	f.Add(uint8(0), []byte(`null`))
	f.Add(uint8(6), []byte(`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"image":"x"}]}}}}}}`))
	f.Fuzz(func(t *testing.T, k uint8, raw []byte) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		o, err := Decode(kind, raw)
		if err != nil {
			if o != nil {
				t.Fatalf("Decode returned an object with error %v", err)
			}
			if !Supported(kind) && !errors.Is(err, ErrUnsupportedKind) {
				t.Fatalf("Decode(%s) error %v does not wrap ErrUnsupportedKind", kind, err)
			}
			return
		}
		if !Supported(kind) || o.Kind != kind {
			t.Fatalf("Decode(%s) = kind %q", kind, o.Kind)
		}
		// Containers are exactly the template's, in order.
		tmpl, err := o.PodTemplate()
		if err != nil {
			// A template whose names decode but whose whole does not
			// (a bad quantity, say) is refused when first needed.
			if _, cerr := CanonicalTemplate(o); cerr == nil {
				t.Fatalf("PodTemplate failed (%v) but CanonicalTemplate did not", err)
			}
			return
		}
		if !slices.Equal(o.Containers, containersOf(&tmpl.Spec)) {
			t.Fatalf("Containers %+v do not match the template", o.Containers)
		}
		images := o.Images()
		for i, img := range images {
			if slices.Contains(images[:i], img) {
				t.Fatalf("Images() repeats %q", img)
			}
		}
		for _, c := range o.Containers {
			if !slices.Contains(images, c.Image) {
				t.Fatalf("Images() misses %q", c.Image)
			}
		}
		// Canonicalising never fails, is stable and leaves the object alone.
		before := tmpl.DeepCopy()
		first, err := CanonicalTemplate(o)
		if err != nil {
			t.Fatalf("CanonicalTemplate: %v", err)
		}
		if !equality.Semantic.DeepEqual(*before, *tmpl) {
			t.Fatal("CanonicalTemplate modified the object")
		}
		if second, _ := CanonicalTemplate(o); !bytes.Equal(first, second) {
			t.Fatal("CanonicalTemplate is not deterministic")
		}
		// An object is unchanged against itself.
		cls, err := Classify(t.Context(), Request{Operation: "UPDATE"}, o, o, nil, nil)
		if err != nil || cls.Class != Ignore {
			t.Fatalf("Classify(o, o) = %v, %v; want ignore", cls, err)
		}
	})
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{
		"nginx", "nginx:1.27", "docker.io/library/nginx", "localhost:5000/app:v1",
		"registry.example.com/team/app@" + testDigest, "app:latest@" + testDigest,
		"UPPER/x", "", "a:b:c", "[::1]:5000/x:y", "host/a@sha512:" + testDigest[7:] + testDigest[7:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		if img.Ref != ref || img.Registry == "" || img.Repository == "" {
			t.Fatalf("ParseImage(%q) = %+v", ref, img)
		}
		again, err := ParseImage(img.Normalized())
		if err != nil {
			t.Fatalf("Normalized() %q of %q does not parse: %v", img.Normalized(), ref, err)
		}
		if again.Name() != img.Name() || again.Tag != img.Tag || again.Digest != img.Digest {
			t.Fatalf("%q normalises to %q, which parses as %+v, not %+v", ref, img.Normalized(), again, img)
		}
		if again.Normalized() != img.Normalized() || again.IsLatest() != img.IsLatest() {
			t.Fatalf("Normalized() is not a fixed point for %q", ref)
		}
	})
}
