package caddymodule

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/policy"
)

// LoginConfig describes the console's own login route, which the gateway watches to
// learn who signs in.
//
// Who signed in is best learned from the console itself, after it accepted the
// password: set WhoAmI (recommended) or UserHeader. Without either, the gateway reads
// the name from the login request (UserField) and refuses, before the console sees
// it, any login another parser could read as naming someone else.
type LoginConfig struct {
	// Path of the console's login form or API, e.g. /login.
	Path string `json:"path,omitempty"`
	// Method the login is submitted with, compared case-insensitively. Default POST.
	Method string `json:"method,omitempty"`
	// WhoAmI asks the console who signed in: after the console accepted a login and
	// before anything of its answer is released, the gateway sends the console a GET
	// of this URL carrying only the cookies the console just set, and takes the user
	// from the answer. A non-2xx answer, or no name in it, holds the login back.
	WhoAmI *WhoAmIConfig `json:"whoami,omitempty"`
	// UserHeader is a response header in which the console names the user of a
	// successful login. The gateway removes it before the answer reaches the browser.
	UserHeader string `json:"user_header,omitempty"`
	// UserField is the form or JSON field that names the user, read from the login
	// request when neither WhoAmI nor UserHeader is set. Default "username".
	UserField string `json:"user_field,omitempty"`
	// SuccessStatus lists the status codes of a successful console login.
	// Default 302 and 303 (a redirect to the dashboard).
	SuccessStatus []int `json:"success_status,omitempty"`
	// SuccessCookie, if set, must be among the console's Set-Cookie headers for a
	// login to count as successful (e.g. the console's session cookie).
	SuccessCookie string `json:"success_cookie,omitempty"`
	// MaxBody limits the login request body the gateway reads to find the user field.
	// Default 64 KiB; a larger body is refused with 413.
	MaxBody int64 `json:"max_body,omitempty"`
	// MaxHeldResponse limits the console's successful login answer (status, headers
	// and body) that the gateway holds while the user passes the second factor.
	// Default 64 KiB; a larger answer is refused with 502 and logged.
	MaxHeldResponse int64 `json:"max_held_response,omitempty"`
}

// WhoAmIConfig is the console's "who am I" URL.
type WhoAmIConfig struct {
	// URI is the path (and query) of the console's "who am I" URL, e.g. /api/whoami.
	URI string `json:"uri,omitempty"`
	// Field is the JSON field of its answer that holds the user's name; nested fields
	// are joined with dots ("data.user.name"). Empty: the whole body, as text, is the
	// name.
	Field string `json:"field,omitempty"`
}

// IdentityConfig says how the gateway knows who sends a request.
type IdentityConfig struct {
	// Source is "session" (the default: learned from the console's login and kept in
	// the gateway session cookie) or "header" (a header set by an auth layer that runs
	// before this handler in the same route).
	Source string `json:"source,omitempty"`
	// Header names the user when Source is "header". The gateway trusts it only
	// because the operator configured it; never configure a header clients can set.
	Header string `json:"header,omitempty"`
}

// ProtectConfig names a group of sensitive operations.
type ProtectConfig struct {
	// Name is shown to the user on the challenge page, e.g. "instance changes".
	Name string `json:"name,omitempty"`
	// Paths are path patterns with the semantics of Caddy's path matcher:
	// exact, prefix (/api/instances/*), suffix (*/delete), substring or glob.
	Paths []string `json:"paths,omitempty"`
	// Methods that make a matching request sensitive. Default: all methods.
	Methods []string `json:"methods,omitempty"`
	// MaxAge is how recent the second factor must be. Default 5m.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// Description says more about the operation on the challenge page, e.g.
	// "Deleting an instance cannot be undone." The page also shows the held request's
	// method and path, from the request itself.
	Description string `json:"description,omitempty"`
	// Translations are the name and description as readers of another language see
	// them, by language: {"zh-Hans": {"name": "实例变更", "description": "删除实例后无法恢复。"}}.
	// A reader of a language without one sees Name and Description.
	Translations map[string]RuleText `json:"translations,omitempty"`
}

// RuleText is a protect rule's name and description in one language.
type RuleText struct {
	// Name is the rule's name in the language.
	Name string `json:"name,omitempty"`
	// Description is the rule's description in the language.
	Description string `json:"description,omitempty"`
}

// ChoiceConfig is one kind of protection: on or off, and the methods that may pass
// it.
type ChoiceConfig struct {
	// On turns the protection on.
	On bool `json:"on"`
	// Methods may pass it, in order of preference: "totp", "sms". Empty: every
	// enabled method.
	Methods []string `json:"methods,omitempty"`
}

// DefaultsConfig is where users start. They, and administrators for them, may
// change it from the settings page. Root's operation protection starts on with SMS
// first, whatever Operation says.
type DefaultsConfig struct {
	// Login is the default of login protection. Default: off.
	Login *ChoiceConfig `json:"login,omitempty"`
	// Operation is the default of operation protection. Default: on.
	Operation *ChoiceConfig `json:"operation,omitempty"`
}

// RequireConfig are mandates: a floor nobody but the config changes. Each names
// users: "all", "admins" (root and administrators), "root", or user names.
type RequireConfig struct {
	// Login lists the users whose login protection is on, whatever they choose.
	Login []string `json:"login,omitempty"`
	// Operation lists the users whose operation protection is on, whatever they choose.
	Operation []string `json:"operation,omitempty"`
}

// ConsoleSessionConfig makes the console's sessions follow the gateway's.
//
// At a login the gateway releases, it records a keyed hash of the console's session
// cookie with the gateway session (and follows the console when it sets a new value
// later for that session, or sends one it never released beside a live gateway
// session). A request carrying that cookie without a live gateway session of the same
// user has the cookie removed before it reaches the console.
// While the store cannot answer, such requests pass unchecked and are logged.
type ConsoleSessionConfig struct {
	// Strict also removes console session cookies the gateway never released: those
	// issued before this was turned on, or by a route other than the watched login.
	// Turn it on once every user has logged in through the gateway, and only for a
	// console that sets its session cookie at login alone (not to anonymous visitors).
	Strict bool `json:"strict,omitempty"`
	// Remember is how long the gateway remembers to whom it released a console session
	// cookie (at least the cookie's own Max-Age); past it, the cookie counts as never
	// released. At least session_lifetime; set it to the console's own session
	// lifetime. Default 30 days.
	Remember caddy.Duration `json:"remember,omitempty"`
}

// AnomalyConfig says when a console login is anomalous. Each signal seen adds its
// weight; a login whose score reaches the threshold is anomalous.
type AnomalyConfig struct {
	// Signals weigh what the gateway sees at a login: "new_device" (the browser never
	// passed a second factor for this user, as a signed, long-lived device cookie
	// remembers), "new_network" (the client's IPv4 /24 or IPv6 /56, from Caddy's client
	// IP so trusted_proxies applies, has not signed in as this user lately) and
	// "recent_failures" (wrong codes for this user since the last right one). Weight 0
	// turns a signal off. Default: new_device 2, new_network 1, recent_failures 1.
	Signals map[string]int `json:"signals,omitempty"`
	// Threshold is the score from which a login is anomalous. Default 2: a new device
	// alone, or a new network with recent wrong codes.
	Threshold int `json:"threshold,omitempty"`
	// Failures is how many wrong codes make recent_failures. Default 3.
	Failures int `json:"failures,omitempty"`
	// LogOnlyUntil ends the rollout grace period (a date, 2027-01-31, or an RFC 3339
	// time): until then anomalous logins are only logged and counted, and every login
	// that passes makes its browser known, so users are not all asked at once when it
	// ends.
	LogOnlyUntil string `json:"log_only_until,omitempty"`
	// RememberDevice is how long a browser stays known for a user after the user passed
	// a second factor in it. Default 90 days.
	RememberDevice caddy.Duration `json:"remember_device,omitempty"`
	// RememberNetwork is how long a network stays known for a user after a login from
	// it. Default 30 days.
	RememberNetwork caddy.Duration `json:"remember_network,omitempty"`
}

// rules are the anomaly rules of this config, with its defaults applied.
func (a *AnomalyConfig) rules() (policy.AnomalyRules, error) {
	r := policy.DefaultAnomalyRules()
	for name, w := range a.Signals {
		s := policy.Signal(name)
		if !slices.Contains(policy.Signals, s) {
			return r, fmt.Errorf("unknown signal %q (expected new_device, new_network or recent_failures)", name)
		}
		if w < 0 {
			return r, fmt.Errorf("signal %s: a weight is 0 or more, got %d", name, w)
		}
		r.Weights[s] = w
	}
	if a.Threshold < 0 {
		return r, fmt.Errorf("threshold must be 1 or more, got %d", a.Threshold)
	}
	if a.Threshold > 0 {
		r.Threshold = a.Threshold
	}
	if a.LogOnlyUntil != "" {
		t, err := parseDate(a.LogOnlyUntil)
		if err != nil {
			return r, err
		}
		r.LogOnlyUntil = t
	}
	return r, nil
}

// parseDate reads a date (2027-01-31, midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("log_only_until: expected a date such as 2027-01-31 or an RFC 3339 time, got %q", s)
	}
	return t, nil
}

// checkSuccessCookie refuses a success_cookie that some parser reads as one of the
// gateway's own cookies: the gateway hides those from the console.
func (l *LoginConfig) checkSuccessCookie() error {
	if own := gateway.GatewayCookieLike(l.SuccessCookie); l.SuccessCookie != "" && own != "" {
		return fmt.Errorf("success_cookie: %q is read as the gateway's own cookie %q; name the console's session cookie", l.SuccessCookie, own)
	}
	return nil
}

// checkUserSource refuses a login route that names the user in two ways: one would
// silently be ignored.
func (l *LoginConfig) checkUserSource() error {
	n := 0
	for _, set := range []bool{l.WhoAmI != nil, l.UserHeader != "", l.UserField != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("set one of whoami, user_header or user_field: the user comes from one place")
	}
	if l.WhoAmI != nil && !strings.HasPrefix(l.WhoAmI.URI, "/") {
		return fmt.Errorf("whoami must be a path of the console such as /api/whoami, got %q", l.WhoAmI.URI)
	}
	return nil
}
