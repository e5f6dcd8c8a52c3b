// Package token issues and verifies the gateway's signed JWTs: the gateway session
// (who the browser is) and step-up tokens (proof of a recent second factor).
//
// Every token is signed with one pinned algorithm, HS256 or EdDSA, chosen by the key
// in Config; a token naming any other algorithm is refused before its signature is
// looked at (RFC 8725 §3.1). The kind of a token is its "typ" header, so a session
// cookie can never stand in for a step-up token or the other way round (RFC 8725
// §3.11). Every token names its key in the "kid" header (the key's keyring ID with
// HS256, its RFC 7638 thumbprint with EdDSA), so keys rotate without signing anyone
// out: the current key signs, the previous ones still verify. Issue records every token as a live grant in the store before handing it
// out; Parse is pure and checks only what the token itself proves, and the caller
// asks the store whether the token is still live (Tokens.Live), so a revocation takes
// effect at once on every instance.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/store"
)

// Kind is what a token is for. It travels as the JWT "typ" header (RFC 8725 §3.11)
// and Parse demands the kind it is asked for, so one kind is never accepted as another.
type Kind string

const (
	// Session is the gateway session: who the browser is, from the login on. Its
	// token ID is also its session ID.
	Session Kind = "stepup-session+jwt"

	// StepUp is proof of a recent second factor, issued within a session.
	StepUp Kind = "stepup+jwt"
)

// NoSession is the session of step-up tokens issued where the gateway keeps no session
// of its own (an auth layer in front names the user): such a token belongs to its
// user, and is live while its own ID is.
const NoSession = "-"

// MaxSize is the longest token Parse looks at, in bytes. Longer input is refused
// before any decoding, so hostile cookies and headers cost nothing to reject.
const MaxSize = 4096

// Default lifetimes, used when Config leaves them zero.
const (
	DefaultLifetime        = 5 * time.Minute
	DefaultSessionLifetime = 12 * time.Hour
)

// clockSkew is how far in the future a token's iat may lie: instances sharing a key
// may have clocks a little apart. Expiry gets no such allowance (RFC 7519 §4.1.4).
const clockSkew = 30 * time.Second

// ErrInvalid is wrapped by every error Parse returns. The text after it names the
// reason for the log; clients should only ever be told that the token is invalid.
var ErrInvalid = errors.New("token: invalid token")

// now and randReader are the clock and the randomness; tests replace them.
var (
	now                  = time.Now
	randReader io.Reader = rand.Reader
)

// Claims are what a gateway token says. Times have whole-second precision, as in
// the token.
type Claims struct {
	Kind     Kind      // the "typ" header
	ID       string    // jti: 128 random bits, base64url; the handle for revocation
	User     string    // sub
	Session  string    // sid: the gateway session; equal to ID for a Session token
	IssuedAt time.Time // iat
	Expires  time.Time // exp: the token is refused at and after this instant
	AuthTime time.Time // auth_time: when the login or the second factor passed
	AMR      []string  // amr: how the user authenticated (RFC 8176: "pwd", "otp", "sms", "mfa")
	ACR      string    // acr: the assurance level of a StepUp token; empty on sessions
}

// Config configures Tokens. Set exactly one of HMACKey and Ed25519Key; the key
// decides the algorithm, and only that algorithm is ever accepted.
//
// Keys rotate without signing anyone out: the new key signs, and the keys before it
// (PreviousHMACKeys or PreviousEd25519Keys, of the same algorithm) still verify the
// tokens they signed. Every token names its key in the "kid" header; Parse picks the
// key by it and refuses a kid it does not know.
type Config struct {
	// Issuer is the iss claim, required. It is also the audience when Audience is empty.
	Issuer string

	// Audience is the aud claim; tokens naming another audience are refused.
	Audience string

	// HMACKey selects HS256. It must be at least 32 random bytes and pass
	// CheckHMACKey; a password or passphrase is refused (RFC 8725 §3.5). Every
	// instance that verifies tokens shares this key.
	HMACKey []byte

	// Ed25519Key selects EdDSA. Other parties can then verify tokens with the public
	// key that JWKS publishes. LoadEd25519Key reads one from a PEM file.
	Ed25519Key ed25519.PrivateKey

	// PreviousHMACKeys are HMAC keys that signed before HMACKey, newest first. They
	// only verify: keep each until the tokens it signed have expired (SessionLifetime
	// after HMACKey took its place), then drop it. Each passes CheckHMACKey and
	// differs from every other key.
	PreviousHMACKeys [][]byte

	// PreviousEd25519Keys are the public halves of Ed25519 keys that signed before
	// Ed25519Key, newest first. They only verify, and JWKS lists them after the
	// current key, so other parties verify their tokens too until they are dropped.
	PreviousEd25519Keys []ed25519.PublicKey

	// ACR is the acr claim put in StepUp tokens (for example "stepup:otp"); empty
	// leaves it out.
	ACR string

	// Lifetime is how long a StepUp token lives; DefaultLifetime when zero.
	Lifetime time.Duration

	// SessionLifetime is how long a Session token lives; DefaultSessionLifetime when zero.
	SessionLifetime time.Duration
}

// Tokens issues, verifies and revokes gateway tokens. It is safe for concurrent use.
type Tokens struct {
	method  jwt.SigningMethod
	signKey any // []byte or ed25519.PrivateKey
	kid     string
	// verifyKeys are every key by its kid: []byte or ed25519.PublicKey.
	verifyKeys map[string]any
	// unnamed are the HMAC keys that verify a token without a kid, issued before
	// tokens named their key; empty with EdDSA, whose tokens always did.
	unnamed jwt.VerificationKeySet
	kids    []string // current first
	jwks    []byte

	issuer, audience, acr     string
	lifetime, sessionLifetime time.Duration

	store  store.Store
	parser *jwt.Parser
	cache  verifiedCache
}

// New checks cfg and returns Tokens that sign with its key and track grants in st.
// It refuses a weak HMAC key, an inconsistent Ed25519 key, both keys or none.
func New(cfg Config, st store.Store) (*Tokens, error) {
	if st == nil {
		return nil, errors.New("token: a store is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("token: an issuer is required")
	}
	t := &Tokens{
		issuer:          cfg.Issuer,
		audience:        cfg.Audience,
		acr:             cfg.ACR,
		lifetime:        cfg.Lifetime,
		sessionLifetime: cfg.SessionLifetime,
		store:           st,
	}
	if t.audience == "" {
		t.audience = t.issuer
	}
	if t.lifetime == 0 {
		t.lifetime = DefaultLifetime
	}
	if t.sessionLifetime == 0 {
		t.sessionLifetime = DefaultSessionLifetime
	}
	// Below one second a token would expire before its whole-second exp could say so.
	if t.lifetime < time.Second || t.sessionLifetime < time.Second {
		return nil, errors.New("token: lifetimes must be at least one second")
	}

	if err := t.setKeys(cfg); err != nil {
		return nil, err
	}

	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{t.method.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(),
		// Canonical base64 only: otherwise a signature with altered padding bits
		// would still verify, and a token would have more than one spelling.
		jwt.WithStrictDecoding(),
		// A closure, not now itself, so that tests replacing now reach the parser.
		jwt.WithTimeFunc(func() time.Time { return now() }),
		// No WithLeeway: it would stretch exp too. iat gets its allowance in Parse.
	)
	return t, nil
}

// setKeys checks cfg's keys and sets the signing key and the verifying keys by kid.
func (t *Tokens) setKeys(cfg Config) error {
	t.verifyKeys = map[string]any{}
	add := func(kid string, key any) error {
		if _, dup := t.verifyKeys[kid]; dup {
			return fmt.Errorf("token: signing key %d is the same as an earlier one", len(t.kids)+1)
		}
		t.verifyKeys[kid] = key
		t.kids = append(t.kids, kid)
		return nil
	}
	switch {
	case cfg.HMACKey != nil && cfg.Ed25519Key != nil:
		return errors.New("token: set either an HMAC key or an Ed25519 key, not both")
	case cfg.HMACKey != nil:
		if len(cfg.PreviousEd25519Keys) > 0 {
			return errors.New("token: previous keys must be of the current key's algorithm: previous Ed25519 keys with an HMAC key")
		}
		t.method = jwt.SigningMethodHS256
		for i, k := range append([][]byte{cfg.HMACKey}, cfg.PreviousHMACKeys...) {
			if err := CheckHMACKey(k); err != nil {
				if i > 0 {
					return fmt.Errorf("token: previous signing key %d: %s", i, strings.TrimPrefix(err.Error(), "token: "))
				}
				return err
			}
			key := append([]byte(nil), k...) // the caller may reuse its slice
			if err := add(keyring.IDOf(key).String(), key); err != nil {
				return err
			}
			t.unnamed.Keys = append(t.unnamed.Keys, key)
		}
		t.signKey, t.kid = t.verifyKeys[t.kids[0]], t.kids[0]
	case cfg.Ed25519Key != nil:
		if len(cfg.PreviousHMACKeys) > 0 {
			return errors.New("token: previous keys must be of the current key's algorithm: previous HMAC keys with an Ed25519 key")
		}
		priv, err := checkEd25519Key(cfg.Ed25519Key)
		if err != nil {
			return err
		}
		t.method, t.signKey = jwt.SigningMethodEdDSA, priv
		pubs := []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}
		for _, p := range cfg.PreviousEd25519Keys {
			if len(p) != ed25519.PublicKeySize {
				return fmt.Errorf("token: previous Ed25519 key is %d bytes, want %d", len(p), ed25519.PublicKeySize)
			}
			pubs = append(pubs, append(ed25519.PublicKey(nil), p...))
		}
		for _, pub := range pubs {
			if err := add(thumbprint(pub), pub); err != nil {
				return err
			}
		}
		t.kid = t.kids[0]
		if t.jwks, err = jwksJSON(pubs, t.kids); err != nil {
			return fmt.Errorf("token: public key set: %w", err)
		}
	default:
		return errors.New("token: a signing key is required (an HMAC key or an Ed25519 key)")
	}
	return nil
}

// KeyIDs are the kids of the signing keys, the current (signing) one first: for the
// operator's log.
func (t *Tokens) KeyIDs() []string { return append([]string(nil), t.kids...) }

// lifetimeOf returns how long tokens of kind k live, or false for an unknown kind.
func (t *Tokens) lifetimeOf(k Kind) (time.Duration, bool) {
	switch k {
	case Session:
		return t.sessionLifetime, true
	case StepUp:
		return t.lifetime, true
	}
	return 0, false
}
