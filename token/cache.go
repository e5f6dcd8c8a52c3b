package token

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// cacheBytes bounds the memory the verified-token cache holds: 96 MiB, about 430,000
// tokens of the usual size, the session and step-up token of 215,000 users active at
// once. Only tokens that passed every check get in, so a flood of forgeries cannot
// fill it.
const cacheBytes = 96 << 20

// entryOverhead is what an entry costs besides its text: its key and value in the
// map's slot, the map's spare room, and the text's allocation header (measured by
// TestCacheEntrySize: about 145 bytes over the text).
const entryOverhead = 160

// maxAMR is how many amr values a cached entry holds; a token with more (the gateway
// issues at most two) is verified on every use instead.
const maxAMR = 4

// verifiedCache remembers tokens Parse has verified, so the cookie a browser sends
// with every request costs a hash and a map lookup instead of JSON decoding and a
// signature check (over ten microseconds with HS256, eighty with EdDSA). Expiry and
// iat are checked again on every hit; revocation is the store's business and is
// unaffected.
//
// A token is known by the first 128 bits of its SHA-256, not by its text: a third
// of the memory, so a busy gateway keeps the tokens of all its users. Only verified
// tokens get in, so passing for one means finding a second preimage of a token
// someone was issued.
type verifiedCache struct {
	mu    sync.RWMutex
	m     map[tokenHash]verified
	bytes int
	// max bounds bytes; cacheBytes unless a test sets it.
	max int
}

type tokenHash [16]byte

func hashOf(raw string) tokenHash {
	// Read in place: []byte(raw) would copy the token on every request, and Sum256
	// neither keeps nor changes its input.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	return tokenHash(sum[:16])
}

// verified is the claims of a verified token, packed: the strings in one, the times
// in seconds (tokens carry whole seconds).
type verified struct {
	kind Kind
	// text is ID, User, Session, ACR and the amr values, one after another;
	// ends[i] is where the i-th ends.
	text               string
	ends               [4 + maxAMR]uint16
	amr                uint8 // how many amr values
	iat, exp, authTime int64
}

// pack returns c packed, or false when it does not fit an entry.
func pack(c Claims) (verified, bool) {
	v := verified{kind: c.Kind, iat: c.IssuedAt.Unix(), exp: c.Expires.Unix(), authTime: c.AuthTime.Unix()}
	if len(c.AMR) > maxAMR {
		return v, false
	}
	parts := append([]string{c.ID, c.User, c.Session, c.ACR}, c.AMR...)
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxSize { // never, for a token of at most MaxSize bytes; uint16 ends fit
		return v, false
	}
	buf := make([]byte, 0, n)
	for i, p := range parts {
		buf = append(buf, p...)
		v.ends[i] = uint16(len(buf))
	}
	v.text = string(buf)
	v.amr = uint8(len(c.AMR))
	return v, true
}

// claims unpacks v. Its strings share v's text; the AMR slice is the caller's own.
func (v verified) claims() Claims {
	part := func(i int) string {
		start := uint16(0)
		if i > 0 {
			start = v.ends[i-1]
		}
		return v.text[start:v.ends[i]]
	}
	c := Claims{
		Kind:     v.kind,
		ID:       part(0),
		User:     part(1),
		Session:  part(2),
		ACR:      part(3),
		IssuedAt: time.Unix(v.iat, 0).UTC(),
		Expires:  time.Unix(v.exp, 0).UTC(),
		AuthTime: time.Unix(v.authTime, 0).UTC(),
	}
	if v.amr > 0 {
		c.AMR = make([]string, v.amr)
		for i := range c.AMR {
			c.AMR[i] = part(4 + i)
		}
	}
	return c
}

func (c *verifiedCache) get(raw string) (Claims, bool) {
	h := hashOf(raw)
	c.mu.RLock()
	v, ok := c.m[h]
	c.mu.RUnlock()
	if !ok {
		return Claims{}, false
	}
	return v.claims(), true
}

func (c *verifiedCache) put(raw string, cl Claims) {
	v, ok := pack(cl)
	if !ok {
		return
	}
	h := hashOf(raw)
	size := len(v.text) + entryOverhead
	limit := c.max
	if limit <= 0 {
		limit = cacheBytes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[tokenHash]verified)
	}
	if _, ok := c.m[h]; ok {
		return
	}
	// Evict arbitrary entries (map order is random): cheap, and a token evicted
	// while still in use is only verified once more.
	for k, old := range c.m {
		if c.bytes+size <= limit {
			break
		}
		delete(c.m, k)
		c.bytes -= len(old.text) + entryOverhead
	}
	c.m[h] = v
	c.bytes += size
}
