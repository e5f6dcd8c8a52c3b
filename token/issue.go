package token

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-stepup/stepup/store"
)

// wireClaims is the JSON payload of a token.
type wireClaims struct {
	jwt.RegisteredClaims
	SID      string           `json:"sid,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	AMR      []string         `json:"amr,omitempty"`
	ACR      string           `json:"acr,omitempty"`
}

// Issue signs a new token of kind for user and records it in the store as a live
// grant before returning it, so a token that exists can always be revoked.
//
// For a Session token, session must be empty: a new session starts and its ID is
// the token's ID. For a StepUp token, session names the live session it belongs to;
// revoking that session revokes the token too. authTime is when the user passed
// the login or second factor (not in the future); amr says how (RFC 8176).
//
// An error from the store wraps store.ErrUnavailable; no token is returned then.
func (t *Tokens) Issue(ctx context.Context, kind Kind, user, session string, amr []string, authTime time.Time) (raw string, c Claims, err error) {
	life, ok := t.lifetimeOf(kind)
	if !ok {
		return "", Claims{}, fmt.Errorf("token: unknown kind %q", kind)
	}
	if user == "" {
		return "", Claims{}, errors.New("token: a user is required")
	}
	switch {
	case kind == Session && session != "":
		return "", Claims{}, errors.New("token: a session token starts a new session; pass no session")
	case kind == StepUp && session == "":
		return "", Claims{}, errors.New("token: a step-up token needs the session it belongs to")
	}
	issued := now()
	if authTime.IsZero() || authTime.After(issued) {
		return "", Claims{}, errors.New("token: auth time must be set and not in the future")
	}

	id, err := newID()
	if err != nil {
		return "", Claims{}, err
	}
	if kind == Session {
		session = id
	}
	// Whole seconds, as the token carries them, so c matches what Parse returns.
	iat := issued.Truncate(time.Second).UTC()
	c = Claims{
		Kind:     kind,
		ID:       id,
		User:     user,
		Session:  session,
		IssuedAt: iat,
		Expires:  iat.Add(life).Truncate(time.Second),
		AuthTime: authTime.Truncate(time.Second).UTC(),
	}
	if len(amr) > 0 {
		c.AMR = slices.Clone(amr) // ours now: the caller may reuse its slice
	}
	if kind == StepUp {
		c.ACR = t.acr
	}

	raw, err = t.sign(c)
	if err != nil {
		return "", Claims{}, err
	}
	g := store.Grant{User: c.User, ID: c.ID, Session: c.Session, Expires: c.Expires}
	if err := t.store.Track(ctx, g); err != nil {
		return "", Claims{}, fmt.Errorf("token: track grant: %w", err)
	}
	return raw, c, nil
}

// sign encodes c as a JWT with the pinned algorithm and c.Kind as its typ.
func (t *Tokens) sign(c Claims) (string, error) {
	wc := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   c.User,
			Audience:  jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(c.Expires),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		SID:      c.Session,
		AuthTime: jwt.NewNumericDate(c.AuthTime),
		AMR:      c.AMR,
		ACR:      c.ACR,
	}
	tok := jwt.NewWithClaims(t.method, wc)
	tok.Header["typ"] = string(c.Kind)
	tok.Header["kid"] = t.kid
	raw, err := tok.SignedString(t.signKey)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return raw, nil
}

// newID returns 128 random bits, base64url without padding: unguessable and safe
// in cookies, URLs and store keys.
func newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(randReader, b[:]); err != nil {
		return "", fmt.Errorf("token: random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Live reports, with one store call, whether the tokens behind cs are all still
// live: each token's ID and the session it belongs to. Pass the session's claims and,
// when there is one, the step-up token's, as parsed from one request.
//
// Claims of different users or different sessions are never live together, so a
// step-up token from another session does not count; Live answers false for them,
// and for no claims at all. An error means the store could not answer (it wraps
// store.ErrUnavailable): fail closed.
func (t *Tokens) Live(ctx context.Context, cs ...Claims) (bool, error) {
	if len(cs) == 0 {
		return false, nil
	}
	user, session := cs[0].User, cs[0].Session
	ids := make([]string, 0, len(cs)+1)
	if session != NoSession {
		ids = append(ids, session)
	}
	for _, c := range cs {
		if c.User != user || c.Session != session || c.User == "" || c.Session == "" || c.ID == "" {
			return false, nil
		}
		if !slices.Contains(ids, c.ID) {
			ids = append(ids, c.ID)
		}
	}
	return t.store.Live(ctx, user, ids...)
}

// RevokeUser ends every token of user at once, on every instance: every session and
// every step-up token ("sign out everywhere").
func (t *Tokens) RevokeUser(ctx context.Context, user string) error {
	if user == "" {
		return errors.New("token: revoke needs a user")
	}
	if err := t.store.RevokeUser(ctx, user); err != nil {
		return fmt.Errorf("token: revoke user: %w", err)
	}
	return nil
}

// RevokeStepUps ends every step-up token of user and keeps the user's sessions (and
// what is attached to them): a second factor was unbound, so what it proved no longer
// counts.
func (t *Tokens) RevokeStepUps(ctx context.Context, user string) error {
	grants, err := t.store.Grants(ctx, user)
	if err != nil {
		return fmt.Errorf("token: listing grants: %w", err)
	}
	for _, g := range grants {
		if g.ID != g.Session && !attached(g) {
			if err := t.store.Revoke(ctx, user, g.ID); err != nil {
				return fmt.Errorf("token: revoke: %w", err)
			}
		}
	}
	return nil
}

// Revoke ends the token id of user at once, on every instance. Revoking a session
// also ends every step-up token issued in it. Revoking a token that is gone already
// is not an error.
func (t *Tokens) Revoke(ctx context.Context, user, id string) error {
	if user == "" || id == "" {
		return errors.New("token: revoke needs a user and a token id")
	}
	if err := t.store.Revoke(ctx, user, id); err != nil {
		return fmt.Errorf("token: revoke: %w", err)
	}
	return nil
}
