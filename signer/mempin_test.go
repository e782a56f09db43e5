package signer

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/lru"
)

// TestMemPinGivesBackThePin: the compact form rebuilds the pin it was
// made from, whatever form its digests take.
func TestMemPinGivesBackThePin(t *testing.T) {
	for name, p := range map[string]Pin{
		"sha256 digests": {Fingerprint: "fp-1", PinnedAt: time.Unix(1_800_000_000, 7).UTC(), Digests: map[string]string{
			"registry.example.com/shop/api:1.2": testDigest(1), "registry.example.com/shop/proxy:3": testDigest(2),
		}},
		"other digest forms are kept as text": {Fingerprint: "fp-2", PinnedAt: time.Unix(1_800_000_000, 0).UTC(), Digests: map[string]string{
			"a:1": "sha512:" + fmt.Sprintf("%0128x", 5),
			"b:1": "sha256:" + fmt.Sprintf("%064X", 0xabc), // upper case: not how it was written
			"c:1": "sha256:short",
		}},
		"no time, no digests": {Fingerprint: "fp-3", Digests: map[string]string{}},
		"a hex fingerprint, kept as its bytes": {Fingerprint: fmt.Sprintf("%064x", 42), PinnedAt: time.Unix(-5, 0).UTC(), Digests: map[string]string{
			"": testDigest(3), "r.io/" + strings.Repeat("x", 300) + ":1": testDigest(4),
		}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := compactPin(p).pin(); !reflect.DeepEqual(got, p) {
				t.Fatalf("compactPin(p).pin() = %+v, want %+v", got, p)
			}
		})
	}
}

// TestPinBytesInMemory counts the heap the in-memory copy keeps per
// rollout of five images, each a tag of its own (a release brings new
// tags), key and LRU entry included. It was 1,258 bytes with each pin's
// own map of reference to digest strings; interning the references made
// it 1,840, as a string used once costs more interned than not; a struct
// with a slice of references and 32-byte digests 842, the references
// being the decoded review's own strings; one string per pin, the
// references copied in, 600.
func TestPinBytesInMemory(t *testing.T) {
	const n = 20000
	p := &storePins{mem: lru.New(pinMemory), counts: map[string]int64{}}
	refs := []string{"registry.example.com/shop/api:%d", "registry.example.com/shop/api-init:%d", "registry.example.com/shop/proxy:%d", "registry.example.com/shop/worker:%d", "registry.example.com/shop/cron:%d"}
	per := heapBytesPer(n, func() {
		for i := range n {
			digests := make(map[string]string, len(refs))
			for j, r := range refs {
				digests[fmt.Sprintf(r, i)] = testDigest(5*i + j)
			}
			p.remember(Rollout{
				Fingerprint: fmt.Sprintf("%064x", i), Namespace: "shop", Kind: "Deployment", Name: fmt.Sprintf("app-%05d", i),
				Digests: digests, AdmittedAt: time.Now(),
			})
		}
	})
	t.Logf("%.0f bytes of heap per pin kept in memory (%d pins)", per, p.mem.Len())
	if p.mem.Len() != n {
		t.Fatalf("%d pins in memory, want %d", p.mem.Len(), n)
	}
	const bound = 650
	if per > bound {
		t.Errorf("a pin keeps %.0f bytes of heap, want at most %d", per, bound)
	}
	runtime.KeepAlive(p)
}
