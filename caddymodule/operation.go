package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// serveProtected lets a sensitive request through only with a recent second factor.
// The fast path (a fresh token) costs one store round trip; every store failure
// answers 503 and nothing passes unchecked.
func (h *Handler) serveProtected(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rule policy.OperationRule, header string) error {
	c := h.identify(r)
	if !c.known() {
		return h.signIn(w, r, rule, "no gateway session")
	}
	t := now()
	// Fast path: a recent second factor (a step-up token, or a login that passed
	// one) costs one store round trip to check it is still live.
	var tokenID string
	var proof *policy.StepUp
	if tok, ok := h.stepUpToken(r, header); ok {
		st := &policy.StepUp{User: tok.User, Session: tok.Session, AuthTime: tok.AuthTime}
		if policy.Fresh(st, c.User, c.Session, rule.MaxAge, t) {
			proof, tokenID = st, tok.ID
		}
	}
	if proof == nil && c.secondFactor() {
		st := &policy.StepUp{User: c.User, Session: c.Session, AuthTime: c.AuthTime}
		if policy.Fresh(st, c.User, c.Session, rule.MaxAge, t) {
			proof = st
		}
	}
	if proof != nil {
		live, err := h.live(r.Context(), c, tokenID)
		if err != nil {
			return h.unavailable(w, r, err)
		}
		if live {
			allowed.Inc()
			setUser(r, c.User, proof.AuthTime)
			return toConsole(w, r, next)
		}
		h.logger.Info("step-up token or session revoked", zap.String("user", c.User), zap.String("rule", rule.Name))
	}
	// Slow path: is the session still live, and what does this user need?
	live, err := h.live(r.Context(), c, "")
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if !live {
		return h.signIn(w, r, rule, "gateway session revoked or expired")
	}
	profile, err := h.profile(r, c.User)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	d := policy.Decide(policy.Request{User: c.User, Session: c.Session, Now: t}, rule, profile)
	metrics.decisions.WithLabelValues(d.Verdict.String()).Inc()
	if d.Verdict == policy.Allow {
		setUser(r, c.User, time.Time{})
		return toConsole(w, r, next)
	}
	return h.challenge(w, r, c, rule, d)
}

// profile gathers what policy needs to know of a user.
func (h *Handler) profile(r *http.Request, user string) (policy.Profile, error) {
	f, err := h.challenges.Factors(r.Context(), user)
	if err != nil {
		return policy.Profile{}, err
	}
	p := policy.Profile{User: user, Role: h.role(user), Protection: h.enforce.For(user)}
	for _, m := range f.Bound() {
		p.Bound = append(p.Bound, policy.Method(m))
	}
	return p, nil
}

func (h *Handler) role(user string) policy.Role {
	for _, u := range h.Root {
		if policy.SameUser(u, user) {
			return policy.RoleRoot
		}
	}
	for _, u := range h.Admins {
		if policy.SameUser(u, user) {
			return policy.RoleAdmin
		}
	}
	return policy.RoleUser
}

// challenge starts a challenge and sends the browser to its page, or answers an API
// client with an RFC 9470 step-up challenge.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, c caller, rule policy.OperationRule, d policy.Decision) error {
	browser := wantsHTML(r)
	var held *heldRequest
	ret := r.URL.RequestURI()
	if browser && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A form post cannot follow a redirect: hold it and replay it once the
		// second factor passes. Only same-origin posts are held (no CSRF through us).
		if !sameOrigin(r) {
			h.logger.Warn("cross-site request to a protected route refused", zap.String("user", c.User), zap.String("rule", rule.Name), zap.String("client_ip", clientIP(r)))
			return h.message(w, http.StatusForbidden, "Request refused", "This request did not come from this site.", "", "")
		}
		var err error
		if held, err = holdRequest(r, h.MaxHeldRequest); err != nil {
			if errors.Is(err, errTooLarge) {
				return h.message(w, http.StatusRequestEntityTooLarge, "Request too large", "This form is too large to confirm with a second factor.", "", "")
			}
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		ret = refererPath(r)
	}
	ch, err := h.challenges.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: h.challengeBinding(w, r, c), Purpose: policy.PurposeOperation, Rule: rule.Name,
		Return: ret, Methods: d.Methods,
	})
	if err != nil {
		return h.beginFailed(w, r, err)
	}
	if held != nil {
		if err := h.saveHeld(r, ch, held); err != nil {
			return h.unavailable(w, r, err)
		}
	}
	h.logger.Info("second factor required",
		zap.String("user", c.User), zap.String("rule", rule.Name), zap.String("challenge", ch.ID),
		zap.String("verdict", d.Verdict.String()), zap.String("reason", d.Reason),
		zap.Bool("held_request", held != nil), zap.String("client_ip", clientIP(r)))
	if browser {
		http.Redirect(w, r, h.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	return h.stepUpChallenge(w, ch, int(rule.MaxAge/time.Second), "A recent second factor is required for "+rule.Name, d.Verdict == policy.Bind)
}

// stepUpChallenge answers an API client with an RFC 9470 step-up challenge: 401, a
// WWW-Authenticate header with insufficient_user_authentication and max_age, and a
// JSON body naming the challenge, the methods on offer and where to verify.
func (h *Handler) stepUpChallenge(w http.ResponseWriter, ch challenge.Challenge, maxAge int, description string, bind bool) error {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_user_authentication", error_description="A recent second factor is required", max_age="%d"`, maxAge))
	body := map[string]any{
		"error":             "insufficient_user_authentication",
		"error_description": description,
		"challenge_id":      ch.ID,
		"methods":           ch.Methods,
		"verify_url":        h.Prefix + "/api/challenges/" + ch.ID + "/verify",
		"challenge_url":     h.challengeURL(ch.ID),
		"max_age":           maxAge,
		"expires_at":        ch.Expires.UTC().Format(time.RFC3339),
	}
	if bind {
		body["error_description"] = "A second factor must be bound first; open challenge_url in a browser"
		body["bind_required"] = true
	}
	return writeJSON(w, http.StatusUnauthorized, body)
}

// methodNames spells policy's methods the way challenges and clients name them.
func methodNames(ms []policy.Method) []string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = string(m)
	}
	return names
}

func (h *Handler) challengeURL(id string) string { return h.Prefix + "/challenge/" + id }

// signIn answers a sensitive request whose sender the gateway does not know.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, rule policy.OperationRule, reason string) error {
	metrics.decisions.WithLabelValues(policy.SignIn.String()).Inc()
	h.logger.Info("sign-in required for a protected route", zap.String("rule", rule.Name), zap.String("reason", reason), zap.String("client_ip", clientIP(r)))
	if wantsHTML(r) && h.Login != nil {
		http.Redirect(w, r, h.Login.Path, http.StatusSeeOther)
		return nil
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="Sign in first"`)
	return writeJSON(w, http.StatusUnauthorized, map[string]any{
		"error":             "sign_in_required",
		"error_description": "Sign in to the console through the gateway first",
	})
}

// issueStepUp makes a step-up token for a passed challenge and sets its cookie. The
// token belongs to the challenge's gateway session; in header mode to its user.
func (h *Handler) issueStepUp(w http.ResponseWriter, r *http.Request, p challenge.Passed) (string, token.Claims, error) {
	session := p.Challenge.Binding
	if h.Identity.Source == "header" {
		session = headerSession
	}
	raw, claims, err := h.tokens.Issue(r.Context(), token.StepUp, p.Challenge.User, session, p.AMR, p.AuthTime)
	if err != nil {
		return "", claims, err
	}
	http.SetCookie(w, h.cookie(r, tokenCookie, raw, time.Until(claims.Expires), http.SameSiteStrictMode))
	return raw, claims, nil
}

func retryAfter(w http.ResponseWriter, until time.Time) {
	secs := int(time.Until(until).Seconds()) + 1
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
