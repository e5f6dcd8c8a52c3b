package token

import (
	"strings"
	"sync"
)

// cacheBytes bounds the memory the verified-token cache holds: about 8,000 tokens
// of the usual size. Only tokens that passed every check get in, so a flood of
// forgeries cannot fill it.
const cacheBytes = 4 << 20

// verifiedCache remembers tokens Parse has verified, so the cookie a browser sends
// with every request costs a map lookup instead of JSON decoding and a signature
// check (tens of microseconds with HS256, over a hundred with EdDSA). Expiry and
// iat are checked again on every hit; revocation is the store's business and is
// unaffected.
type verifiedCache struct {
	mu    sync.RWMutex
	m     map[string]Claims
	bytes int
}

func (c *verifiedCache) get(raw string) (Claims, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cl, ok := c.m[raw]
	return cl, ok
}

func (c *verifiedCache) put(raw string, cl Claims) {
	size := entrySize(raw, cl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]Claims)
	}
	if _, ok := c.m[raw]; ok {
		return
	}
	// Evict arbitrary entries (map order is random): cheap, and a token evicted
	// while still in use is only verified once more.
	for k, v := range c.m {
		if c.bytes+size <= cacheBytes {
			break
		}
		delete(c.m, k)
		c.bytes -= entrySize(k, v)
	}
	// A copy, so the cache holds no reference into the request that carried raw.
	c.m[strings.Clone(raw)] = cl
	c.bytes += size
}

// entrySize estimates the memory an entry takes: its strings and a fixed share for
// the map slot, the times and the amr slice.
func entrySize(raw string, c Claims) int {
	return len(raw) + len(c.ID) + len(c.User) + len(c.Session) + len(c.ACR) + 256
}
