package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// caller is who sends a request, as far as the gateway knows without the store.
type caller struct {
	User string
	// session is the gateway session's claims; zero in header mode, where the auth
	// layer in front owns the session.
	session    token.Claims
	headerMode bool
}

func (c caller) known() bool { return c.User != "" && (c.headerMode || c.session.ID != "") }

// sessionID is the gateway session step-up tokens belong to (token.NoSession in
// header mode).
func (c caller) sessionID() string {
	if c.headerMode {
		return token.NoSession
	}
	return c.session.ID
}

// binding is what the caller's own forms and API challenges are bound to: the gateway
// session, or in header mode the user.
func (c caller) binding() string {
	if c.headerMode {
		return "user:" + c.User
	}
	return c.session.ID
}

// request is the caller's request as policy sees it, with the step-up token presented
// (or nil).
func (c caller) request(now func() time.Time, stepUp *token.Claims) policy.Request {
	req := policy.Request{User: c.User, Session: c.sessionID(), Now: now()}
	if stepUp != nil {
		req.StepUp = &policy.StepUp{ID: stepUp.ID, User: stepUp.User, Session: stepUp.Session, AuthTime: stepUp.AuthTime,
			Recovery: policy.RecoveryOnlyAMR(stepUp.AMR)}
	}
	if !c.headerMode && policy.SecondFactorAMR(c.session.AMR) {
		req.Login = &policy.StepUp{User: c.User, Session: c.session.ID, AuthTime: c.session.AuthTime,
			Recovery: policy.RecoveryOnlyAMR(c.session.AMR)}
	}
	return req
}

// tokenReader parses the gateway's tokens and asks whether they are still live.
type tokenReader interface {
	Parse(kind token.Kind, raw string) (token.Claims, error)
	Live(ctx context.Context, cs ...token.Claims) (bool, error)
}

// identifier names the caller of a request: the gateway session cookie, or the header
// an auth layer in front sets.
type identifier struct {
	header  string // the identity header; "" for the gateway session
	tokens  tokenReader
	cookies cookies
	rand    io.Reader
	log     *zap.Logger
}

// caller names the caller without touching the store: the session cookie's signature
// and expiry are checked here, its liveness by live.
func (id *identifier) caller(r *http.Request) caller {
	if id.header != "" {
		user := policy.CanonicalUser(r.Header.Get(id.header))
		if user == "" {
			return caller{}
		}
		return caller{User: user, headerMode: true}
	}
	raw := cookieValue(r, sessionCookie)
	if raw == "" {
		return caller{}
	}
	c, err := id.tokens.Parse(token.Session, raw)
	if err != nil {
		id.log.Debug("session cookie refused", zap.Error(err))
		return caller{}
	}
	return caller{User: c.User, session: c}
}

// stepUpToken returns the request's step-up token (the configured token header's
// value, else the cookie), checked except for liveness; nil when there is none.
func (id *identifier) stepUpToken(r *http.Request, fromHeader string) *token.Claims {
	raw := fromHeader
	if raw == "" {
		if raw = cookieValue(r, tokenCookie); raw == "" {
			return nil
		}
	}
	c, err := id.tokens.Parse(token.StepUp, raw)
	if err != nil {
		id.log.Debug("step-up token refused", zap.Error(err))
		return nil
	}
	return &c
}

// live asks the store, in one round trip, whether the caller's session and the given
// step-up token (if any) are still live.
func (id *identifier) live(ctx context.Context, c caller, stepUp *token.Claims) (bool, error) {
	switch {
	case c.headerMode && stepUp == nil:
		return true, nil // the auth layer in front owns the session
	case c.headerMode:
		return id.tokens.Live(ctx, *stepUp)
	case stepUp == nil:
		return id.tokens.Live(ctx, c.session)
	}
	return id.tokens.Live(ctx, c.session, *stepUp)
}

// challengeBinding is what a challenge begun for c by request r is bound to: the
// caller's session; in header mode, for a browser, the browser itself (a random
// cookie, set here when it has none yet), and for an API client the user.
func (id *identifier) challengeBinding(w http.ResponseWriter, r *http.Request, c caller) (string, error) {
	if !c.headerMode || !wantsHTML(r) {
		return c.binding(), nil
	}
	nonce := cookieValue(r, browserCookie)
	if len(nonce) < 22 {
		var err error
		if nonce, err = newNonce(id.rand); err != nil {
			return "", err
		}
		http.SetCookie(w, id.cookies.pagesOnly(r, browserCookie, nonce, 0))
	}
	return browserBinding(c.User, nonce), nil
}

func browserBinding(user, nonce string) string { return "browser:" + user + ":" + nonce }

// challengeBindings are what the caller of r may present to answer a challenge.
func (id *identifier) challengeBindings(r *http.Request, c caller) []string {
	var out []string
	if v := cookieValue(r, loginCookie); v != "" {
		out = append(out, v)
	}
	if !c.known() {
		return out
	}
	out = append(out, c.binding())
	if v := cookieValue(r, browserCookie); c.headerMode && v != "" {
		out = append(out, browserBinding(c.User, v))
	}
	return out
}

// newNonce is 128 random bits, base64url.
func newNonce(rand io.Reader) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("gateway: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// liveCaller is the caller of r, known and with a live session; a session that has
// ended loses its cookie.
func (id *identifier) liveCaller(w http.ResponseWriter, r *http.Request) (caller, error) {
	c := id.caller(r)
	if !c.known() {
		return c, signIn("no gateway session")
	}
	live, err := id.live(r.Context(), c, nil)
	if err != nil {
		return c, failed(err)
	}
	if !live {
		id.cookies.clearSession(w, r)
		return c, signIn("gateway session revoked or expired")
	}
	return c, nil
}

// liveRequest is c's request as policy sees it, with only live proofs: a step-up
// token that was revoked proves nothing.
func (id *identifier) liveRequest(r *http.Request, c caller, now func() time.Time) (policy.Request, error) {
	stepUp := id.stepUpToken(r, "")
	req := c.request(now, stepUp)
	if stepUp != nil {
		live, err := id.live(r.Context(), c, stepUp)
		if err != nil {
			return req, failed(err)
		}
		if !live {
			req.StepUp = nil
		}
	}
	return req, nil
}
