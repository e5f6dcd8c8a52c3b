package gateway

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/brand"
	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
	"github.com/caddy-stepup/stepup/web"
)

// Options are a gateway's settings as plain values; the Caddy module fills them in
// from its configuration, whose fields document them for users.
type Options struct {
	// Prefix is where the gateway serves its own pages and API, e.g. /.stepup.
	Prefix string
	// Issuer names the gateway on its pages.
	Issuer string
	// Lang is the language of a reader whose browser asks for none the gateway
	// speaks, and who chose none on a page (default: English).
	Lang *locale.Lang
	// RuleTexts are the protect rules' names and descriptions in other languages, by
	// the rule's name: what a reader of that language sees on the challenge page.
	RuleTexts map[string]map[*locale.Lang]RuleText
	// Brand is the console's look, for the pages.
	Brand brand.Brand
	// Login is the console's login route; nil when the gateway watches none.
	Login *LoginOptions
	// Logout is the console's logout path, or "".
	Logout string
	// IdentityHeader names the request header an auth layer in front sets to the
	// user; "" means the gateway's own session, learned at the console's login.
	IdentityHeader string
	// Rules name the protected operations.
	Rules policy.Rules
	// Settings say who needs a second factor for what: the methods on offer, the
	// defaults, the mandates and the roles.
	Settings policy.Settings
	// TokenHeader is a request header API clients may present step-up tokens in,
	// besides the cookie; "" for none.
	TokenHeader string
	// MaxHeldRequest bounds a held browser form (and the body read for a method
	// override).
	MaxHeldRequest int64
	// ConsoleSession, when set, makes the console's sessions follow the gateway's:
	// a console session cookie released with a gateway session ends with it.
	ConsoleSession *ConsoleSessionOptions
	// Risk, when set, asks for a second factor at an anomalous console login.
	Risk *RiskOptions
	// SMS says an SMS provider is configured.
	SMS bool
	// FormKey keys the HMAC of form tokens: 32 random bytes.
	FormKey []byte
	// PreviousFormKeys are the form keys before FormKey, newest first: forms shown
	// (and flashes set) before a key rotation still verify.
	PreviousFormKeys [][]byte

	// Now is the clock (default time.Now) and Rand the randomness (default
	// crypto/rand).
	Now  func() time.Time
	Rand io.Reader
	// Logger is the operator's log (default: none).
	Logger *zap.Logger
	// AuditLogger is the audit trail's own log (default: Logger).
	AuditLogger *zap.Logger
	// Events count what happens, for metrics (default: nothing).
	Events Events
	// Notify takes the security notices audited events call for (notices.go); it
	// must not block (default: none).
	Notify func(Notice)
	// ClientIP is the client's address as the server trusts it (default: the peer).
	ClientIP func(*http.Request) string
	// SetUser publishes who passed, for access logs and later handlers (default: nothing).
	SetUser func(r *http.Request, user string, authTime time.Time)
}

// Store is what the gateway asks of the store directly: whether it answers, each
// user's recent events, the index of users, counters, and single records (whose
// console session a cookie is, the networks a user signed in from).
type Store interface {
	pinger
	eventStore
	userIndex
	counter
	records
}

// Gateway is the flows of one configuration.
type Gateway struct {
	router  *router
	console *consoleSessions // nil unless console sessions follow the gateway's
	respond *Responder
	pages   *pages
	gate    *gate
	login   *loginWatch
	logout  *logout
	admin   *Admin
	options Options
}

// New builds a gateway from its options and the parts it acts with.
func New(o Options, st Store, tokens *token.Tokens, challenges *challenge.Service) (*Gateway, error) {
	if st == nil || tokens == nil || challenges == nil {
		return nil, errors.New("gateway: a store, tokens and challenges are required")
	}
	if !strings.HasPrefix(o.Prefix, "/") || len(o.Prefix) < 2 || strings.ContainsAny(o.Prefix, "{}") {
		return nil, errors.New("gateway: the prefix must be a path such as /.stepup")
	}
	if len(o.FormKey) < 32 {
		return nil, errors.New("gateway: the form key must be at least 32 bytes")
	}
	formKeys, err := keyring.New(append([][]byte{o.FormKey}, o.PreviousFormKeys...)...)
	if err != nil {
		return nil, errors.New("gateway: form keys: " + err.Error())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.AuditLogger == nil {
		o.AuditLogger = o.Logger
	}
	if o.Events == nil {
		o.Events = NoEvents{}
	}
	if o.ClientIP == nil {
		o.ClientIP = peerIP
	}
	if o.SetUser == nil {
		o.SetUser = func(*http.Request, string, time.Time) {}
	}
	e := env{now: o.Now, rand: o.Rand, log: o.Logger, events: o.Events, setUser: o.SetUser, clientIP: o.ClientIP}
	ck := cookies{prefix: o.Prefix}
	loginPath := ""
	if o.Login != nil {
		loginPath = o.Login.Path
	}
	if o.Lang == nil {
		o.Lang = locale.English
	}
	respond := &Responder{issuer: o.Issuer, prefix: o.Prefix, loginPath: loginPath, now: o.Now, log: o.Logger, events: o.Events, clientIP: o.ClientIP,
		lang: o.Lang, render: &web.Renderer{Brand: o.Brand}, cookies: ck}
	id := &identifier{header: o.IdentityHeader, tokens: tokens, cookies: ck, rand: o.Rand, log: o.Logger}
	prof := profiles{factors: challenges, settings: o.Settings}
	sess := sessions{tokens: tokens, cookies: ck, setUser: o.SetUser, now: o.Now, index: st}
	if o.ConsoleSession != nil {
		if o.Login == nil || o.IdentityHeader != "" {
			return nil, errors.New("gateway: console sessions follow gateway sessions, which begin at the console's login")
		}
		if sess.console, err = newConsoleSessions(*o.ConsoleSession, tokens, st, id, ck, e); err != nil {
			return nil, err
		}
	}
	if o.Risk != nil {
		if o.Login == nil {
			return nil, errors.New("gateway: anomalous logins are judged at the console's login, which is not configured")
		}
		if sess.risk, err = newRiskCheck(*o.Risk, st, challenges, ck, e); err != nil {
			return nil, err
		}
	}
	audit := &Audit{log: o.AuditLogger, store: st, now: o.Now, events: o.Events, notify: o.Notify}
	f := forms{keys: formKeys}

	g := &Gateway{respond: respond, options: o, console: sess.console}
	g.admin = &Admin{factors: challenges, tokens: tokens, index: st, profiles: prof, settings: o.Settings, audit: audit, counter: st}
	g.router = &router{
		prefix: policy.CleanPath(o.Prefix), prefixSlash: policy.CleanPath(o.Prefix) + "/",
		maxHeldRequest: o.MaxHeldRequest, rules: o.Rules, tokenHeaderKey: canonicalHeader(o.TokenHeader),
		log: o.Logger, events: o.Events, clientIP: o.ClientIP,
	}
	if o.Login != nil {
		g.router.login, g.router.loginMethod, g.router.maxLoginBody = policy.CleanPath(o.Login.Path), o.Login.Method, o.Login.MaxBody
		g.login = &loginWatch{opts: *o.Login, store: st, profiles: prof, challenges: challenges, sessions: sess, respond: respond, cookies: ck, env: e}
		if o.ConsoleSession != nil && o.ConsoleSession.Cookie != o.Login.SuccessCookie {
			return nil, errors.New("gateway: the console session cookie must be the login's success cookie")
		}
		if o.Login.WhoAmIURI != "" {
			g.login.whoAmI = &whoAmI{uri: o.Login.WhoAmIURI, field: o.Login.WhoAmIField}
		}
	}
	if o.Logout != "" {
		g.router.logout = policy.CleanPath(o.Logout)
		g.logout = &logout{id: id, tokens: tokens, cookies: ck, env: e}
	}
	g.gate = &gate{id: id, respond: respond, profiles: prof, challenges: challenges, index: st, maxHeldRequest: o.MaxHeldRequest, env: e}
	descriptions := map[string]string{}
	for _, rule := range o.Rules {
		if _, ours := builtInRules[rule.Name]; ours || rule.Name == unusualSignIn {
			// Its description would show on the gateway's own checks of that name.
			return nil, fmt.Errorf("gateway: the protect rule name %q is one of the gateway's own checks; choose another", rule.Name)
		}
		if descriptions[rule.Name] == "" {
			descriptions[rule.Name] = rule.Description
		}
	}
	l := challenges.Limits
	fl := flashes{keys: formKeys, cookies: ck}
	cp := &challengePages{id: id, respond: respond, forms: f, cookies: ck, challenges: challenges, tokens: tokens,
		sessions: sess, audit: audit, flashes: fl, sms: o.SMS, tokenHeader: o.TokenHeader,
		lock: lockRule{after: l.LockAfter, lasts: l.LockFor, perCheck: l.MaxAttempts}, descriptions: descriptions, ruleTexts: o.RuleTexts, env: e}
	sp := &settingsPages{id: id, respond: respond, forms: f, cookies: ck, factors: challenges, recovery: challenges, tokens: tokens,
		profiles: prof, settings: o.Settings, audit: audit, flashes: fl, sms: o.SMS, prefix: o.Prefix, logoutPath: o.Logout, env: e}
	ap := &adminPages{id: id, respond: respond, forms: f, admin: g.admin, factors: challenges, challenges: challenges,
		settings: o.Settings, prefix: o.Prefix, env: e}
	g.pages = newPages(o.Prefix, respond, cp, sp, ap, tokens.JWKS())
	return g, nil
}

// Serve runs r through the flow its route needs, or passes it to the console
// untouched. It returns nil when it answered, an *Error it has not written (the
// caller writes it with Respond, or hands it to Caddy's handle_errors), or the
// console's own error from next.
func (g *Gateway) Serve(w http.ResponseWriter, r *http.Request, next Next) error {
	// The gateway's own time is reported, less the console's (next's).
	start := time.Now()
	rt := g.router.route(r)
	// The caller is read once for the console check and the gate, and again only if
	// the check changed the Cookie header.
	var c caller
	read := false
	if g.console != nil && rt.kind != ownPages && rt.kind != refusedRoute {
		c, read = g.gate.id.caller(r), true
		// The login's answer is attached where it is released, not followed here.
		var changed bool
		w, changed = g.console.check(w, r, c, rt.kind != loginRoute)
		read = !changed
	}
	if rt.kind == toConsole {
		// Nothing follows the console: the gateway's time ends where it begins.
		g.options.Events.Served(RouteUnprotected, time.Since(start))
		return ToConsole(w, r, next)
	}
	timer := startTimer(next, g.options.Events, start)
	defer timer.stop(rt.kind)
	next = timer
	switch rt.kind {
	case ownPages:
		return g.pages.serve(w, r, next)
	case loginRoute:
		return g.login.serve(w, r, next)
	case logoutRoute:
		return g.logout.serve(w, r, next)
	case protectedRoute:
		if !read {
			c = g.gate.id.caller(r)
		}
		return g.gate.serve(w, r, next, rt, c)
	case refusedRoute:
		return rt.refusal
	}
	return ToConsole(w, r, next)
}

// Admin is the administration of users' second factors, for the operators' command
// line: the same actions as the administrator pages, audited, without the pages'
// check of who may act (the command line is the operator's).
func (g *Gateway) Admin() *Admin { return g.admin }

// Respond writes an error Serve returned: an *Error (or a store outage) as the
// gateway's page or JSON; any other error is returned for Caddy to answer.
func (g *Gateway) Respond(w http.ResponseWriter, r *http.Request, err error) error {
	return g.respond.Error(w, r, err)
}

// RetryAfter sets the Retry-After header an error calls for (a store outage, a
// limit), for when the caller answers it another way.
func (g *Gateway) RetryAfter(w http.ResponseWriter, e *Error) { g.respond.RetryAfter(w, e) }

// peerIP is the client's address as the connection says.
func peerIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
