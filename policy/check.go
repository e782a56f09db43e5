package policy

import (
	"context"
	"sync"
)

// Check compiles b as Update would — cluster policy when namespace is "",
// that namespace's own policy otherwise — and changes nothing in force. It
// returns the *CompileError Update would report for it.
//
// A source that gathers policy from many places (policy/kube and its
// ConfigMaps) checks each part before it hands the whole to Update, so a
// broken part is left out rather than swapped in. What compiled is kept
// for the next Update, which takes a bundle of the same namespace and
// digest as it is instead of compiling it again; that Update drops
// whatever it did not take. Check is safe to call from several goroutines
// at once, alongside Evaluate.
func (e *Engine) Check(namespace string, b *Bundle) error {
	d := b.Digest()
	u, err := compileUnit(context.Background(), b, d, namespace, e.capsFor(namespace), e.strict)
	if err != nil {
		return err
	}
	e.checked.put(checkKey{namespace, d}, u)
	return nil
}

// checkKey names a checked bundle: namespace ("" for cluster policy) and
// digest.
type checkKey struct {
	namespace string
	digest    string
}

// checkCache holds units compiled by Check until the next Update takes
// them.
type checkCache struct {
	mu    sync.Mutex
	units map[checkKey]*unit
}

func (c *checkCache) put(k checkKey, u *unit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.units == nil {
		c.units = map[checkKey]*unit{}
	}
	c.units[k] = u
}

// take returns the checked units and empties the cache.
func (c *checkCache) take() map[checkKey]*unit {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.units
	c.units = nil
	return u
}
