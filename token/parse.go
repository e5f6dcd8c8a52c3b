package token

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Reasons a token is refused before or while its key is chosen. They reach the
// log through ErrInvalid's text, never the client.
var (
	errKind       = errors.New("wrong typ for this use")
	errHeader     = errors.New("unexpected header")
	errUnknownKey = errors.New("unknown key id")
)

// Parse verifies raw as a token of kind and returns its claims. It accepts only a
// token this configuration could have issued: the pinned algorithm, a configured key
// (the one its kid names), the typ
// of kind, this issuer and audience, not expired (exp is exclusive), iat not in the
// future beyond a small clock allowance, and the sub, sid, jti and auth_time claims
// present. Parse does not consult the store: ask Live whether the token was revoked.
//
// Parse remembers the tokens it has verified (in bounded memory), so the token a
// browser presents on every request is decoded and its signature checked only once.
//
// Every error wraps ErrInvalid; its text is for the log and holds no part of raw.
func (t *Tokens) Parse(kind Kind, raw string) (Claims, error) {
	if _, ok := t.lifetimeOf(kind); !ok {
		return Claims{}, invalid("unknown kind")
	}
	if len(raw) > MaxSize {
		return Claims{}, invalid("too long")
	}
	c, ok := t.cache.get(raw)
	if !ok || c.Kind != kind {
		var err error
		if c, err = t.verify(kind, raw); err != nil {
			return Claims{}, err
		}
		t.cache.put(raw, c)
	}
	// Checked on every use, cached or not: time moves on.
	switch {
	case !now().Before(c.Expires):
		return Claims{}, invalid("expired")
	case c.IssuedAt.After(now().Add(clockSkew)):
		return Claims{}, invalid("issued in the future")
	}
	return c, nil
}

// verify does the work of Parse for a token not in the cache.
func (t *Tokens) verify(kind Kind, raw string) (Claims, error) {
	// A cheap scan first: hostile input is refused before any decoding.
	if !wellFormed(raw) {
		return Claims{}, invalid("malformed")
	}
	var wc wireClaims
	if _, err := t.parser.ParseWithClaims(raw, &wc, t.keyFor(kind)); err != nil {
		return Claims{}, invalid(reason(err))
	}

	// The library checked signature, alg, iss, aud and exp; the rest is ours.
	if wc.Subject == "" || wc.SID == "" || wc.ID == "" || wc.IssuedAt == nil || wc.AuthTime == nil {
		return Claims{}, invalid("missing claim")
	}
	c := Claims{
		Kind:     kind,
		ID:       wc.ID,
		User:     wc.Subject,
		Session:  wc.SID,
		IssuedAt: wc.IssuedAt.UTC(),
		Expires:  wc.ExpiresAt.UTC(), // present: WithExpirationRequired
		AuthTime: wc.AuthTime.UTC(),
		AMR:      wc.AMR,
		ACR:      wc.ACR,
	}
	// Expiry and iat depend on the time: Parse checks them on every use.
	switch {
	case !c.Expires.After(c.IssuedAt):
		return Claims{}, invalid("exp not after iat")
	case c.AuthTime.After(c.IssuedAt):
		return Claims{}, invalid("auth_time after iat")
	case kind == Session && c.ID != c.Session:
		return Claims{}, invalid("session id mismatch")
	}
	return c, nil
}

// keyFor returns the key function for tokens of kind. It runs before the signature
// is checked, so it trusts nothing in the header: the algorithm is pinned, and the kid
// only selects among the configured keys (RFC 8725 §3.10); a kid naming no configured
// key is refused, never fetched or guessed.
//
// A token without a kid was issued before tokens named their key (HS256 only: EdDSA
// tokens always carried one). It is tried against every configured HMAC key, current
// first, so it verifies while the key that signed it is configured; such tokens are
// all expired one session lifetime after the upgrade, since none is issued any more.
func (t *Tokens) keyFor(kind Kind) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		// WithValidMethods pinned the algorithm already; this keeps the key safe
		// should that option ever be dropped.
		if tok.Method != t.method {
			return nil, errHeader
		}
		if typ, _ := tok.Header["typ"].(string); typ != string(kind) {
			return nil, errKind
		}
		// Our tokens carry alg, typ and kid; anything else (crit, jku, x5u) means
		// another issuer or a forgery attempt.
		rawKid, named := tok.Header["kid"]
		want := 2
		if named {
			want = 3
		}
		if len(tok.Header) != want {
			return nil, errHeader
		}
		if !named {
			if len(t.unnamed.Keys) == 0 {
				return nil, errHeader
			}
			return t.unnamed, nil
		}
		kid, ok := rawKid.(string)
		if !ok {
			return nil, errHeader
		}
		key, ok := t.verifyKeys[kid]
		if !ok {
			return nil, errUnknownKey
		}
		return key, nil
	}
}

// wellFormed reports whether raw is three non-empty base64url segments joined by
// dots. The base64 decoder skips CR and LF; without this check a token with a line
// break in its signature would verify, giving one token two spellings.
func wellFormed(raw string) bool {
	dots, seg := 0, 0
	for i := 0; i < len(raw); i++ {
		switch {
		case base64url[raw[i]]:
			seg++
		case raw[i] == '.' && seg > 0:
			dots, seg = dots+1, 0
		default:
			return false
		}
	}
	return dots == 2 && seg > 0
}

// base64url marks the bytes of the base64url alphabet.
var base64url = func() (set [256]bool) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		set[b] = true
	}
	return set
}()

// reason turns a library error into fixed text: library messages can quote parts
// of the input, which must not reach the log.
func reason(err error) string {
	switch {
	case errors.Is(err, errKind):
		return "wrong kind"
	case errors.Is(err, errHeader):
		return "unexpected header"
	case errors.Is(err, errUnknownKey):
		// The kid is not quoted: it is the sender's text.
		return "unknown key id (signed with a key that is not configured, or forged)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad algorithm or signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing claim"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	}
	return "invalid claims"
}

func invalid(why string) error { return fmt.Errorf("%w: %s", ErrInvalid, why) }
