package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// gateChallenges starts challenges and holds the form posts that wait on them.
type gateChallenges interface {
	Begin(ctx context.Context, c challenge.Challenge) (challenge.Challenge, error)
	Hold(ctx context.Context, c challenge.Challenge, what []byte) error
}

// gate lets a protected operation through only with a recent second factor. The fast
// path (a fresh proof, live) asks policy once and the store once; every store
// failure answers 503 and nothing passes unchecked.
type gate struct {
	id             *identifier
	respond        *Responder
	profiles       profiles
	challenges     gateChallenges
	index          userIndex // a challenged user is known (header mode has no login)
	maxHeldRequest int64
	env
}

// serve guards a protected route for c, r's caller.
func (g *gate) serve(w http.ResponseWriter, r *http.Request, next Next, rt route, c caller) error {
	rule := rt.rule
	if !c.known() {
		return g.signIn(r, rule, "no gateway session")
	}
	stepUp := g.id.stepUpToken(r, rt.stepUpHeader)
	req := c.request(g.now, stepUp)
	if proof := req.Proof(rule.MaxAge); proof != nil {
		var tok *token.Claims
		if proof.ID != "" {
			tok = stepUp
		}
		live, err := g.id.live(r.Context(), c, tok)
		if err != nil {
			return failed(err)
		}
		if live {
			g.events.Decision("allow")
			g.setUser(r, c.User, proof.AuthTime)
			return ToConsole(w, r, next)
		}
		g.log.Info("step-up token or session revoked", zap.String("user", c.User), zap.String("rule", rule.Name))
		if tok != nil {
			req.StepUp = nil // revoked: it proves nothing
		}
	}
	// Slow path: is the session still live, and what does this user need?
	live, err := g.id.live(r.Context(), c, nil)
	if err != nil {
		return failed(err)
	}
	if !live {
		return g.signIn(r, rule, "gateway session revoked or expired")
	}
	profile, err := g.profiles.of(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	d := policy.Decide(req, rule, profile)
	g.events.Decision(d.Verdict.String())
	if d.Verdict == policy.Allow {
		g.setUser(r, c.User, time.Time{})
		return ToConsole(w, r, next)
	}
	return g.challenge(w, r, c, rule, d)
}

// signIn answers a protected request whose sender the gateway does not know.
func (g *gate) signIn(r *http.Request, rule policy.OperationRule, why string) error {
	g.events.Decision(policy.SignIn.String())
	g.log.Info("sign-in required for a protected route", zap.String("rule", rule.Name), zap.String("reason", why), zap.String("client_ip", g.clientIP(r)))
	return signIn(why)
}

// challenge starts a challenge and sends the browser to its page, or answers an API
// client with an RFC 9470 step-up challenge. A browser's form post is held and
// replayed once the second factor passes.
func (g *gate) challenge(w http.ResponseWriter, r *http.Request, c caller, rule policy.OperationRule, d policy.Decision) error {
	browser := wantsHTML(r)
	var held []byte
	ret, back, request := r.URL.RequestURI(), refererPath(r), ""
	if browser && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A form post cannot follow a redirect: hold it and replay it once the second
		// factor passes. Only same-origin posts are held (no CSRF through us).
		if !fromThisSite(r) {
			g.log.Warn("cross-site request to a protected route refused", zap.String("user", c.User), zap.String("rule", rule.Name), zap.String("client_ip", g.clientIP(r)))
			return &Error{Status: http.StatusForbidden, Code: CodeCrossSite, Title: say("error.refused.title"), Text: say("error.crossSiteRequest")}
		}
		var err error
		if held, err = holdRequest(r, g.maxHeldRequest); err != nil {
			if errors.Is(err, errTooLarge) {
				return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Title: say("error.tooLarge.title"), Text: say("error.formTooLarge"), Err: err}
			}
			return invalidRequest(say("error.unreadableForm"), err)
		}
		ret = refererPath(r)
		// What the page says is confirmed comes from the held request itself.
		request = r.Method + " " + r.URL.EscapedPath()
	}
	binding, err := g.id.challengeBinding(w, r, c)
	if err != nil {
		return failed(err)
	}
	if err := g.index.AddUser(r.Context(), c.User); err != nil {
		return failed(err)
	}
	ch, err := g.challenges.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: binding, Purpose: policy.PurposeOperation, Rule: rule.Name, Return: ret, Back: back,
		Request: request, Methods: d.Methods,
	})
	if err != nil {
		g.log.Warn("no challenge started", zap.String("reason", err.Error()), zap.String("client_ip", g.clientIP(r)))
		return failed(err)
	}
	if held != nil {
		if err := g.challenges.Hold(r.Context(), ch, held); err != nil {
			return failed(err)
		}
	}
	g.log.Info("second factor required",
		zap.String("user", c.User), zap.String("rule", rule.Name), zap.String("challenge", ch.ID),
		zap.String("verdict", d.Verdict.String()), zap.String("reason", d.Reason),
		zap.Bool("held_request", held != nil), zap.String("client_ip", g.clientIP(r)))
	if browser {
		http.Redirect(w, r, g.respond.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	return g.respond.StepUpChallenge(w, ch, rule.MaxAge, say("api.ruleStepUp", "Rule", rule.Name), d.Verdict == policy.Bind)
}

// factorReader reads a user's bound second factors.
type factorReader interface {
	Factors(ctx context.Context, user string) (challenge.Factors, error)
}

// profiles gathers what policy needs to know of a user: the settings from config,
// and the user's own record (what is bound, what they chose).
type profiles struct {
	factors  factorReader
	settings policy.Settings
}

func (p profiles) of(ctx context.Context, user string) (policy.Profile, error) {
	f, err := p.factors.Factors(ctx, user)
	if err != nil {
		return policy.Profile{}, err
	}
	return p.from(user, f), nil
}

func (p profiles) from(user string, f challenge.Factors) policy.Profile {
	return policy.Profile{User: user, Role: p.settings.Roles.Of(user), Protection: p.settings.For(user, f.Choices), Bound: f.Bound(), Choices: f.Choices}
}

// env is what every flow shares: the clock, randomness, the log, and the reports to
// the Caddy module (metrics, the user for access logs, the client's address).
type env struct {
	now      func() time.Time
	rand     io.Reader
	log      *zap.Logger
	events   Events
	setUser  func(r *http.Request, user string, authTime time.Time)
	clientIP func(*http.Request) string
}
