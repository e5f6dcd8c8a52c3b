// Package token issues and verifies the gateway's signed JWTs: the gateway session
// (who the browser is) and step-up tokens (proof of a recent second factor).
//
// Every token is signed with one pinned algorithm, HS256 or EdDSA, chosen by the key
// in Config; a token naming any other algorithm is refused before its signature is
// looked at (RFC 8725 §3.1). The kind of a token is its "typ" header, so a session
// cookie can never stand in for a step-up token or the other way round (RFC 8725
// §3.11). Issue records every token as a live grant in the store before handing it
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
	"time"

	"github.com/golang-jwt/jwt/v5"

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
	method    jwt.SigningMethod
	signKey   any // []byte or ed25519.PrivateKey
	verifyKey any // []byte or ed25519.PublicKey
	kid       string
	jwks      []byte

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

	switch {
	case cfg.HMACKey != nil && cfg.Ed25519Key != nil:
		return nil, errors.New("token: set either an HMAC key or an Ed25519 key, not both")
	case cfg.HMACKey != nil:
		if err := CheckHMACKey(cfg.HMACKey); err != nil {
			return nil, err
		}
		key := append([]byte(nil), cfg.HMACKey...) // the caller may reuse its slice
		t.method, t.signKey, t.verifyKey = jwt.SigningMethodHS256, key, key
	case cfg.Ed25519Key != nil:
		priv, err := checkEd25519Key(cfg.Ed25519Key)
		if err != nil {
			return nil, err
		}
		pub := priv.Public().(ed25519.PublicKey)
		t.method, t.signKey, t.verifyKey = jwt.SigningMethodEdDSA, priv, pub
		t.kid = thumbprint(pub)
		if t.jwks, err = jwksJSON(pub, t.kid); err != nil {
			return nil, fmt.Errorf("token: public key set: %w", err)
		}
	default:
		return nil, errors.New("token: a signing key is required (an HMAC key or an Ed25519 key)")
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
