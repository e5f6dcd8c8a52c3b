package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// StoreConfig says where the gateway keeps its state.
type StoreConfig struct {
	// Backend is "memory" (the default: one instance, state in this process) or
	// "redis" (state shared by every gateway instance).
	Backend string `json:"backend,omitempty"`
	// File, for the memory backend, keeps durable records (authenticator bindings)
	// across restarts. Without it they are lost when Caddy stops.
	File string `json:"file,omitempty"`
	// URL of the Redis server for the redis backend, e.g. redis://127.0.0.1:6379/0
	// (rediss:// for TLS). Placeholders such as {env.REDIS_URL} are expanded.
	URL string `json:"url,omitempty"`
	// Prefix of every Redis key. Default "stepup:".
	Prefix string `json:"prefix,omitempty"`
}

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
