package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// pinger says whether the store answers now.
type pinger interface {
	Ping(ctx context.Context) error
}

// loginChallenges starts login challenges and holds the console's answer on them.
type loginChallenges interface {
	Begin(ctx context.Context, c challenge.Challenge) (challenge.Challenge, error)
	Hold(ctx context.Context, c challenge.Challenge, what []byte) error
}

// LoginOptions describe the console's login route (see the Caddy module's
// LoginConfig for each field's meaning).
type LoginOptions struct {
	Path, Method string
	// Who signed in: the console's "who am I" URL (WhoAmIURI, with the JSON field
	// WhoAmIField), or its response header UserHeader, or else the request's
	// UserField, read strictly.
	WhoAmIURI, WhoAmIField string
	UserHeader, UserField  string
	SuccessStatus          []int
	SuccessCookie          string
	MaxBody                int64
	MaxHeldResponse        int64
}

// loginWatch watches the console's login: the console judges the password, then the
// gateway learns who signed in (from the console, or from the request read
// strictly). A successful login of a user without login protection gets the gateway
// session cookie added to the console's answer; with login protection the whole
// answer is held until the second factor passes. Failed logins pass through untouched.
type loginWatch struct {
	opts       LoginOptions
	whoAmI     *whoAmI
	store      pinger
	profiles   profiles
	challenges loginChallenges
	sessions   sessions
	respond    *Responder
	cookies    cookies
	env
}

func (lw *loginWatch) serve(w http.ResponseWriter, r *http.Request, next Next) error {
	// A login the gateway could not hold must not be attempted: the password would
	// reach the console and its session could not be held back.
	if err := lw.store.Ping(r.Context()); err != nil {
		return failed(err)
	}
	body, err := readBounded(r.Body, lw.opts.MaxBody)
	if errors.Is(err, errTooLarge) {
		lw.log.Warn("login request body over max_body; not forwarded", zap.Int64("max_body", lw.opts.MaxBody), zap.String("client_ip", lw.clientIP(r)))
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Title: say("error.tooLarge.title"), Text: say("error.loginTooLarge"), Err: err}
	}
	if err != nil {
		return invalidRequest(say("error.unreadableLogin"), err)
	}
	var user string
	if lw.whoAmI == nil && lw.opts.UserHeader == "" {
		if user, err = loginUser(r.Header.Get("Content-Type"), r.URL.RawQuery, body, lw.opts.UserField); err != nil {
			lw.log.Warn("login refused before reaching the console: it could name two users or cannot be read",
				zap.String("reason", err.Error()), zap.String("user_field", lw.opts.UserField),
				zap.String("content_type", r.Header.Get("Content-Type")), zap.String("client_ip", lw.clientIP(r)))
			return invalidRequest(say("error.unreadableLoginForm"), err)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	capture := newLoginCapture(w, int(lw.opts.MaxHeldResponse), lw.succeeded, lw.opts.UserHeader)
	sent := slices.Clone(r.Header["Cookie"])
	if err := ToConsole(capture, r, next); err != nil || !capture.kept {
		return err
	}
	// The console saw none of the gateway's cookies; judging the login reads them (the
	// device cookie).
	r.Header["Cookie"] = sent
	if capture.overflow {
		lw.log.Error("console login answer larger than the gateway holds; login refused: raise login max_held_response",
			zap.Int64("max_held_response", lw.opts.MaxHeldResponse))
		return loginIncomplete(errors.New("login response too large"))
	}
	switch {
	case lw.whoAmI != nil:
		user, err = lw.whoAmI.ask(r, next, capture.header, lw.now())
	case lw.opts.UserHeader != "":
		user, err = headerUser(capture.users, lw.opts.UserHeader)
	}
	if err != nil || user == "" {
		// The console accepted a password, but for whom? Releasing it would let a
		// protected user past the gateway: fail closed and tell the operator.
		lw.log.Error("console accepted a login but did not say for whom; login held back",
			zap.NamedError("reason", err), zap.String("client_ip", lw.clientIP(r)))
		return loginIncomplete(err)
	}
	profile, err := lw.profiles.of(r.Context(), user)
	if err != nil {
		return failed(err)
	}
	d, err := lw.sessions.risk.decide(r, profile)
	if err != nil {
		return failed(err)
	}
	if d.Verdict != policy.Allow {
		return lw.hold(w, r, capture, user, d)
	}
	cookies, err := lw.sessions.start(r, user, []string{"pwd"}, lw.now(), capture.header)
	if err != nil {
		return failed(err)
	}
	lw.events.Login("passed")
	lw.log.Info("console login passed; gateway session started", zap.String("user", user), zap.String("client_ip", lw.clientIP(r)))
	return capture.release(cookies...)
}

// unusualSignIn names the challenge of a login held because it looks anomalous.
const unusualSignIn = "unusual sign-in"

// loginIncomplete refuses a console login the gateway cannot hold or name.
func loginIncomplete(cause error) *Error {
	return &Error{Status: http.StatusBadGateway, Code: CodeLoginIncomplete, Title: say("error.loginIncomplete.title"),
		Text: say("error.loginIncomplete"), Err: cause}
}

// headerUser reads the user from the console's user header: exactly one value.
func headerUser(values []string, name string) (string, error) {
	if len(values) != 1 {
		return "", fmt.Errorf("the console's answer has %d %s headers, want 1", len(values), name)
	}
	user := policy.CanonicalUser(values[0])
	if user == "" {
		return "", fmt.Errorf("the console's %s header names no readable user", name)
	}
	return user, nil
}

// hold keeps the console's successful answer (its session cookie among it) under a
// login challenge, and sends the browser to the challenge page instead; nothing of
// the console's answer reaches the client.
func (lw *loginWatch) hold(w http.ResponseWriter, r *http.Request, capture *loginCapture, user string, d policy.Decision) error {
	nonce, err := newNonce(lw.rand)
	if err != nil {
		return failed(err)
	}
	rule := "sign-in"
	if d.Anomalous {
		rule = unusualSignIn
	}
	ch, err := lw.challenges.Begin(r.Context(), challenge.Challenge{
		User: user, Binding: nonce, Purpose: policy.PurposeLogin, Rule: rule, Methods: d.Methods,
	})
	if err != nil {
		lw.log.Warn("no challenge started", zap.String("reason", err.Error()), zap.String("client_ip", lw.clientIP(r)))
		return failed(err)
	}
	held, err := json.Marshal(heldResponse{Status: capture.status, Header: capture.header, Body: capture.buf.Bytes()})
	if err != nil {
		return failed(err)
	}
	if err := lw.challenges.Hold(r.Context(), ch, held); err != nil {
		return failed(err)
	}
	lw.events.Login("held")
	lw.log.Info("console login held until the second factor passes", zap.String("user", user), zap.String("challenge", ch.ID),
		zap.String("verdict", d.Verdict.String()), zap.String("reason", d.Reason), zap.String("client_ip", lw.clientIP(r)))
	http.SetCookie(w, lw.cookies.pagesOnly(r, loginCookie, nonce, ch.Expires.Sub(lw.now())))
	if wantsHTML(r) {
		http.Redirect(w, r, lw.respond.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	return lw.respond.StepUpChallenge(w, ch, 0, say("api.loginStepUp"), d.Verdict == policy.Bind)
}

// succeeded applies the configured success criteria to the console's answer.
func (lw *loginWatch) succeeded(status int, hdr http.Header) bool {
	if !slices.Contains(lw.opts.SuccessStatus, status) {
		return false
	}
	if lw.opts.SuccessCookie == "" {
		return true
	}
	for _, line := range hdr.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == lw.opts.SuccessCookie && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}

// sessionIssuer issues gateway tokens.
type sessionIssuer interface {
	Issue(ctx context.Context, kind token.Kind, user, session string, amr []string, authTime time.Time) (string, token.Claims, error)
}

// sessions starts gateway sessions.
type sessions struct {
	index   userIndex
	tokens  sessionIssuer
	cookies cookies
	setUser func(r *http.Request, user string, authTime time.Time)
	now     func() time.Time
	console *consoleSessions // nil unless console sessions follow the gateway's
	risk    *riskCheck       // nil unless anomalous logins are judged
}

// start makes the gateway session of a console login the gateway lets through: it ties
// the console's session cookie in consoleAnswer (the console's answer to the login)
// to it, and learns the browser and network. It returns the cookies to add to the
// console's answer: the session, one that clears any step-up token of an earlier
// session, and the device cookie when the browser is now known.
func (s sessions) start(r *http.Request, user string, amr []string, authTime time.Time, consoleAnswer http.Header) ([]*http.Cookie, error) {
	if err := s.index.AddUser(r.Context(), user); err != nil {
		return nil, err
	}
	raw, claims, err := s.tokens.Issue(r.Context(), token.Session, user, "", amr, authTime)
	if err != nil {
		return nil, err
	}
	if s.console != nil {
		if err := s.console.attach(r.Context(), claims, consoleAnswer); err != nil {
			// Released unattached, the console session would outlive the gateway's.
			return nil, err
		}
	}
	cookies := []*http.Cookie{
		s.cookies.make(r, sessionCookie, raw, claims.Expires.Sub(s.now()), http.SameSiteLaxMode),
		s.cookies.make(r, tokenCookie, "", -1, http.SameSiteStrictMode),
	}
	if s.risk != nil {
		device, err := s.risk.learn(r, user, policy.SecondFactorAMR(amr))
		if err != nil {
			return nil, err
		}
		if device != nil {
			cookies = append(cookies, device)
		}
	}
	s.setUser(r, user, claims.AuthTime)
	return cookies, nil
}

// trustDevice sets the device cookie that makes this browser known for user, who just
// passed a second factor in it.
func (s sessions) trustDevice(w http.ResponseWriter, r *http.Request, user string) {
	if s.risk != nil {
		http.SetCookie(w, s.risk.trust(r, user))
	}
}

// tokenRevoker ends gateway tokens.
type tokenRevoker interface {
	Revoke(ctx context.Context, user, id string) error
}

// logout ends the gateway session and its step-up tokens, clears the gateway's
// cookies, and lets the console log out too.
type logout struct {
	id      *identifier
	tokens  tokenRevoker
	cookies cookies
	env
}

func (lo *logout) serve(w http.ResponseWriter, r *http.Request, next Next) error {
	if !fromThisSite(r) {
		// An <img src=/logout> on another site must not sign anyone out of the gateway.
		lo.log.Info("cross-site request to the logout route: gateway session kept", zap.String("client_ip", lo.clientIP(r)))
		return ToConsole(w, r, next)
	}
	if c := lo.id.caller(r); c.known() && !c.headerMode {
		if err := lo.tokens.Revoke(r.Context(), c.User, c.session.ID); err != nil {
			// Logging out must still work: the cookies go, the console logs out;
			// the session record expires on its own.
			lo.log.Error("could not revoke the gateway session at logout", zap.String("user", c.User), zap.Error(err))
		} else {
			lo.log.Info("gateway session ended at logout", zap.String("user", c.User))
		}
	}
	lo.cookies.clearSession(w, r)
	lo.cookies.clearToken(w, r)
	return ToConsole(w, r, next)
}
