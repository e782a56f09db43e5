package workload

import (
	"regexp"
	"testing"
)

func TestFingerprint(t *testing.T) {
	t.Parallel()
	raw := testdata(t, "deployment-defaulted.json")
	digests := map[string]string{
		"registry.example.com/shop/migrate:1.4.2": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"registry.example.com/shop/web:2.3.1":     "sha256:2222222222222222222222222222222222222222222222222222222222222222",
	}
	fingerprint := func(t *testing.T, o *Object, digests map[string]string) string {
		t.Helper()
		return Fingerprint(o, canonical(t, o), digests)
	}
	base := fingerprint(t, decodeBytes(t, "Deployment", raw), digests)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(base) {
		t.Fatalf("Fingerprint = %q, want sha256:<64 hex>", base)
	}

	tests := map[string]struct {
		obj     *Object
		digests map[string]string
		same    bool
	}{
		"the manifest as written fingerprints like the stored Deployment": {
			obj: decodeFile(t, "Deployment", "deployment.json"), digests: digests, same: true,
		},
		"digests given in another order": {
			obj:     decodeBytes(t, "Deployment", raw),
			digests: map[string]string{"registry.example.com/shop/web:2.3.1": digests["registry.example.com/shop/web:2.3.1"], "registry.example.com/shop/migrate:1.4.2": digests["registry.example.com/shop/migrate:1.4.2"]},
			same:    true,
		},
		"a scale does not touch it": {
			obj: decodeBytes(t, "Deployment", edit(t, raw, `"replicas": 3,`, `"replicas": 5,`)), digests: digests, same: true,
		},
		"an env var changes it": {
			obj: decodeBytes(t, "Deployment", edit(t, raw, `"value": "info"`, `"value": "debug"`)), digests: digests,
		},
		"an image changes it": {
			obj: decodeBytes(t, "Deployment", edit(t, raw, "shop/web:2.3.1", "shop/web:2.4.0")), digests: digests,
		},
		"a digest changes it": {
			obj: decodeBytes(t, "Deployment", raw),
			digests: map[string]string{
				"registry.example.com/shop/migrate:1.4.2": digests["registry.example.com/shop/migrate:1.4.2"],
				"registry.example.com/shop/web:2.3.1":     "sha256:3333333333333333333333333333333333333333333333333333333333333333",
			},
		},
		"a missing digest changes it": {
			obj: decodeBytes(t, "Deployment", raw), digests: map[string]string{"registry.example.com/shop/web:2.3.1": digests["registry.example.com/shop/web:2.3.1"]},
		},
		"another namespace changes it": {
			obj: decodeBytes(t, "Deployment", edit(t, raw, `"namespace": "shop"`, `"namespace": "shop-staging"`)), digests: digests,
		},
		"another name changes it": {
			obj: decodeBytes(t, "Deployment", edit(t, raw, `"name": "web",`, `"name": "web2",`)), digests: digests,
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			got := fingerprint(t, tt.obj, tt.digests)
			if (got == base) != tt.same {
				t.Errorf("Fingerprint = %s, base %s: same = %v, want %v", got, base, got == base, tt.same)
			}
		})
	}
}

// TestFingerprintFieldBoundaries feeds inputs whose fields, run together,
// are the same bytes: only length prefixes keep them apart.
func TestFingerprintFieldBoundaries(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		a, b               *Object
		canonA, canonB     string
		digestsA, digestsB map[string]string
	}{
		"namespace and kind run together": {
			a: &Object{Namespace: "ab", Kind: "c", Name: "x"}, b: &Object{Namespace: "a", Kind: "bc", Name: "x"},
		},
		"name and template run together": {
			a: &Object{Name: "web{"}, canonA: "}", b: &Object{Name: "web"}, canonB: "{}",
		},
		"a name and the same generateName": {
			a: &Object{Name: "web-"}, b: &Object{GenerateName: "web-"},
		},
		"a reference and its digest run together": {
			a: &Object{Name: "x"}, digestsA: map[string]string{"a": "bc"},
			b: &Object{Name: "x"}, digestsB: map[string]string{"ab": "c"},
		},
		"the template and the digests run together": {
			a: &Object{Name: "x"}, canonA: "{}", digestsA: map[string]string{},
			b: &Object{Name: "x"}, canonB: "{", digestsB: map[string]string{"}": ""},
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			a := Fingerprint(tt.a, []byte(tt.canonA), tt.digestsA)
			b := Fingerprint(tt.b, []byte(tt.canonB), tt.digestsB)
			if a == b {
				t.Errorf("different inputs share the fingerprint %s", a)
			}
		})
	}
}

// TestFingerprintGenerateName checks that a manifest with only a
// generateName fingerprints like the object /validate sees, whose name the
// API server has already generated.
func TestFingerprintGenerateName(t *testing.T) {
	t.Parallel()
	manifest := decodeFile(t, "Pod", "pod-bare.json")
	admitted := decodeFile(t, "Pod", "pod-bare-defaulted.json")
	if admitted.Name == "" || manifest.Name != "" {
		t.Fatalf("testdata: names %q and %q", manifest.Name, admitted.Name)
	}
	a := Fingerprint(manifest, canonical(t, manifest), nil)
	b := Fingerprint(admitted, canonical(t, admitted), nil)
	if a != b {
		t.Errorf("manifest %s and admitted Pod %s fingerprint differently", a, b)
	}
}
