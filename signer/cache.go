package signer

import (
	"time"

	"k8s.io/utils/lru"
)

// cache holds verification results by digest, trust policy and that
// policy's revision, bounded in size (least recently used goes first) and
// in time (each entry carries its own expiry: long for a verdict, short for
// a failure).
type cache struct {
	entries *lru.Cache
}

type cacheEntry struct {
	res     *Result
	expires time.Time
}

func newCache(size int) *cache {
	return &cache{entries: lru.New(size)}
}

func cacheKey(digest string, p *trustPolicy) string {
	return digest + "|" + p.name + "|" + p.revision
}

// get returns a copy of the live entry for key.
func (c *cache) get(key string, now time.Time) (*Result, bool) {
	v, ok := c.entries.Get(key)
	if !ok {
		return nil, false
	}
	e := v.(cacheEntry)
	if now.After(e.expires) {
		c.entries.Remove(key)
		return nil, false
	}
	r := e.res.clone()
	r.Cached = true
	return r, true
}

func (c *cache) put(key string, res *Result, expires time.Time) {
	c.entries.Add(key, cacheEntry{res: res.clone(), expires: expires})
}
