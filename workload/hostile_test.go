package workload

import (
	"fmt"
	"strings"
	"testing"
)

// wrap puts a pod spec where kind keeps it.
func wrap(kind, podSpec string) string {
	switch kind {
	case "Pod":
		return `{"kind":"Pod","metadata":{"name":"p"},"spec":` + podSpec + `}`
	case "CronJob":
		return `{"kind":"CronJob","metadata":{"name":"c"},"spec":{"jobTemplate":{"spec":{"template":{"spec":` + podSpec + `}}}}}`
	}
	return `{"kind":"` + kind + `","metadata":{"name":"w"},"spec":{"template":{"spec":` + podSpec + `}}}`
}

// TestHostileObjects: what an attacker can put in an object is read, or
// refused with an error that says where, in bounded work: no case here is
// timed, each is counted.
func TestHostileObjects(t *testing.T) {
	t.Parallel()
	many := func(n int, image func(int) string) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = fmt.Sprintf(`{"name":"c%d","image":%q}`, i, image(i))
		}
		return `{"containers":[` + strings.Join(cs, ",") + `]}`
	}
	tests := map[string]struct {
		podSpec    string
		containers int    // read, when no error is wanted
		images     int    // distinct
		err        string // a part of the error, when one is wanted
	}{
		"10,000 containers of one image": {
			podSpec: many(10_000, func(int) string { return "busybox:1.37" }), containers: 10_000, images: 1,
		},
		"10,000 containers of distinct images": {
			podSpec: many(10_000, func(i int) string { return fmt.Sprintf("registry.example.com/app-%d:1.0", i) }), containers: 10_000, images: 10_000,
		},
		"an argument list of 500,000 items": {
			podSpec:    `{"containers":[{"name":"a","image":"busybox:1.37","args":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 500_000), ",") + `]}]}`,
			containers: 1, images: 1,
		},
		"JSON nested 20,000 deep where nothing is read": {
			podSpec: `{"containers":[{"name":"a","image":"busybox:1.37"}],"affinity":` + strings.Repeat(`{"a":`, 20_000) + `1` + strings.Repeat(`}`, 20_000) + `}`,
			err:     "exceeded max depth",
		},
		"arrays nested 20,000 deep as the containers": {
			podSpec: `{"containers":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}`,
			err:     "at /spec",
		},
		"invalid UTF-8 in an image": {
			podSpec: "{\"containers\":[{\"name\":\"a\",\"image\":\"busybox:\xff\"}]}", err: "invalid UTF-8",
		},
		"invalid UTF-8 in a member name": {
			podSpec: "{\"containers\":[{\"name\":\"a\",\"image\":\"busybox:1.37\",\"\xc3\":1}]}", err: "invalid UTF-8",
		},
		"a duplicate image member": {
			podSpec: `{"containers":[{"name":"a","image":"busybox:1.37","image":"evil:latest"}]}`, err: "duplicate",
		},
	}
	for name, tc := range tests {
		for _, kind := range []string{"Pod", "Deployment", "CronJob"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				o, err := Decode(kind, []byte(wrap(kind, tc.podSpec)))
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("Decode = %v, want an error saying %q", err, tc.err)
					}
					if len(err.Error()) > 400 || strings.Contains(err.Error(), "\n") {
						t.Errorf("error is not one short line: %.500q", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(o.Containers) != tc.containers || len(o.Images()) != tc.images {
					t.Fatalf("%d containers and %d images, want %d and %d", len(o.Containers), len(o.Images()), tc.containers, tc.images)
				}
				canonical, err := CanonicalTemplate(o)
				if err != nil {
					t.Fatal(err)
				}
				if fp := Fingerprint(o, canonical, nil); !strings.HasPrefix(fp, "sha256:") {
					t.Errorf("fingerprint %q", fp)
				}
			})
		}
	}
}
