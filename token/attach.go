package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

// attachedPrefix marks the ID of a credential attached to a session (see Attach);
// token IDs are base64url and never contain a colon.
const attachedPrefix = "attached:"

// Attach records a credential the gateway does not issue (the console's session
// cookie, by a fingerprint) as belonging to the gateway session s: it is live while s
// is, and ends with it (logout, "sign out everywhere", an administrator's sign-out),
// on every instance at once. It expires with s, or earlier at expires when that is
// set and sooner.
func (t *Tokens) Attach(ctx context.Context, s Claims, fingerprint string, expires time.Time) error {
	if s.Kind != Session || s.User == "" || s.ID == "" || s.ID != s.Session {
		return errors.New("token: a credential is attached to a gateway session")
	}
	if fingerprint == "" || strings.ContainsRune(fingerprint, ':') {
		return errors.New("token: an attached credential needs a fingerprint without colons")
	}
	until := s.Expires
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	g := store.Grant{User: s.User, ID: attachedPrefix + fingerprint, Session: s.ID, Expires: until}
	if err := t.store.Track(ctx, g); err != nil {
		return fmt.Errorf("token: attach: %w", err)
	}
	return nil
}

// LiveAttached reports, in one store round trip, whether the gateway session s is live
// and the credential fingerprint is attached (by Attach) to a live session of the same
// user.
func (t *Tokens) LiveAttached(ctx context.Context, s Claims, fingerprint string) (bool, error) {
	if s.Kind != Session || s.User == "" || s.ID == "" || fingerprint == "" {
		return false, nil
	}
	return t.store.Live(ctx, s.User, s.ID, attachedPrefix+fingerprint)
}

// attached reports whether a grant is an attached credential rather than a token.
func attached(g store.Grant) bool { return strings.HasPrefix(g.ID, attachedPrefix) }
