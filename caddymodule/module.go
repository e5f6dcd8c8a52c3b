// Package caddymodule is the Caddy glue of caddy-stepup: the HTTP handler
// http.handlers.stepup and its Caddyfile directive. It registers the module, parses
// and checks the configuration, builds the store, the tokens, the challenge service
// and the gateway's flows (package gateway) in Provision, counts metrics, and hands
// every request to the gateway. It is the only package that knows Caddy.
package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/brand"
	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/notify"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/sms"
	"github.com/caddy-stepup/stepup/store"
	_ "github.com/caddy-stepup/stepup/stores" // the store modules
	"github.com/caddy-stepup/stepup/token"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("stepup", parseCaddyfile)
	// After the auth directives, so it sees who they authenticated, and before
	// handle/route/reverse_proxy, so no route can slip past it.
	httpcaddyfile.RegisterDirectiveOrder("stepup", httpcaddyfile.After, "forward_auth")
}

// Handler puts a second factor (an authenticator app's TOTP code, or an SMS code) in
// front of an existing web console: its login, and the operations named as sensitive.
// A passed challenge yields a short-lived signed step-up token, tracked in the store
// so it can be revoked at once on every instance.
type Handler struct {
	// StoreRaw keeps challenges, bindings, counters and live tokens: a module in the
	// stepup.stores namespace, named by "backend": "memory" (the default: one
	// instance, state in this process, durable records in an optional "file") or
	// "redis" (state shared by every instance: {"backend": "redis", "url":
	// "redis+cluster://...", "prefix": "stepup:"}; see package stores).
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=stepup.stores inline_key=backend"`

	// SigningKey signs gateway sessions and step-up tokens with HS256: at least 32
	// random bytes, e.g. {env.STEPUP_SIGNING_KEY} set from `openssl rand -base64 32`.
	// Required unless SigningKeyFile is set or the store is memory without a file (the
	// demo mode, which makes a random key on each start). The keys of form tokens,
	// device cookies and console-session fingerprints are derived from it.
	SigningKey string `json:"signing_key,omitempty"`

	// PreviousSigningKeys are the signing keys SigningKey replaced, newest first,
	// during a key rotation: they no longer sign, but tokens, forms, device cookies
	// and console sessions made with them (or their derived keys) still verify. Keep
	// one at least session_lifetime after SigningKey took its place (longer to keep
	// device cookies and console sessions: see the README), then remove it. Each is
	// checked like SigningKey and must differ from every other key.
	PreviousSigningKeys []string `json:"previous_signing_keys,omitempty"`

	// SigningKeyFile is a PEM (PKCS#8) Ed25519 private key; tokens are then signed
	// with EdDSA and the public key is served at {prefix}/jwks.json.
	SigningKeyFile string `json:"signing_key_file,omitempty"`

	// PreviousSigningKeyFiles are the Ed25519 key files SigningKeyFile replaced,
	// newest first, as PreviousSigningKeys are for SigningKey: their public keys stay
	// in {prefix}/jwks.json and verify their tokens. Private keys, since the other
	// keys are derived from them.
	PreviousSigningKeyFiles []string `json:"previous_signing_key_files,omitempty"`

	// EncryptionKey encrypts authenticator secrets and phone numbers at rest
	// (AES-256-GCM) and keys the MACs of SMS codes and phone numbers: at least 32
	// random bytes. Required with the same exception as SigningKey.
	EncryptionKey string `json:"encryption_key,omitempty"`

	// PreviousEncryptionKeys are the encryption keys EncryptionKey replaced, newest
	// first: values sealed with them still open, and are sealed again with
	// EncryptionKey when next used or by `caddy stepup reseal`. Keep one until the
	// reseal command reports nothing sealed with it (and at least a day, for the SMS
	// send counts it names), then remove it.
	PreviousEncryptionKeys []string `json:"previous_encryption_keys,omitempty"`

	// Issuer is the label authenticator apps show next to the account, and the
	// tokens' issuer. Default "caddy-stepup".
	Issuer string `json:"issuer,omitempty"`

	// Prefix under which the gateway serves its own pages and API. Default /.stepup.
	Prefix string `json:"prefix,omitempty"`

	// Lang is the language of the pages, messages and SMS texts for a reader whose
	// browser asks for none the gateway speaks and who chose none with the pages'
	// language switch: "en" (English, the default) or "zh-Hans" (Simplified Chinese).
	// A reader's own choice, then their browser's Accept-Language, come first.
	Lang string `json:"lang,omitempty"`

	// Brand makes the gateway's pages look like the console's: its product name, logo,
	// accent colour, support link and stylesheet. The pages' Content-Security-Policy
	// admits exactly the logo's and the stylesheet's origins. Default: the gateway's
	// own plain look, named by Issuer.
	Brand *brand.Brand `json:"brand,omitempty"`

	// Login describes the console's login route.
	Login *LoginConfig `json:"login,omitempty"`

	// Logout is the console's logout path: the gateway ends its session and the
	// session's step-up tokens, then passes the request on.
	Logout string `json:"logout,omitempty"`

	// Identity says how the gateway knows who calls. Default: the gateway session.
	Identity *IdentityConfig `json:"identity,omitempty"`

	// Protect names the sensitive operations.
	Protect []ProtectConfig `json:"protect,omitempty"`

	// Methods are the second-factor methods on offer, in order of preference:
	// "totp" (an authenticator app) and "sms". Default: totp, and sms when an SMS
	// provider is configured.
	Methods []string `json:"methods,omitempty"`

	// Defaults are where users start; they may change them on the settings page.
	// Default: operation protection on, login protection off.
	Defaults *DefaultsConfig `json:"defaults,omitempty"`

	// Require are mandates: protection nobody but the config can turn off.
	Require *RequireConfig `json:"require,omitempty"`

	// Enforce is what Defaults and Require replace; a config that sets it fails at
	// load with what to write instead.
	Enforce json.RawMessage `json:"enforce,omitempty"`

	// SMSRaw is the SMS provider that sends codes: a module in the stepup.sms
	// namespace, "webhook", "twilio" or "log" (development). Needed for the sms method.
	SMSRaw json.RawMessage `json:"sms,omitempty" caddy:"namespace=stepup.sms inline_key=provider"`

	// Notify sends users security notices (a second factor bound or removed, an
	// administrator's reset or unlock, a lockout, a recovery code used, protection
	// turned off) through notifiers: a signed webhook, an SMS to the bound phone.
	// Off by default.
	Notify *NotifyConfig `json:"notify,omitempty"`

	// Root and Admins name the console's root and administrator users.
	Root   []string `json:"root,omitempty"`
	Admins []string `json:"admins,omitempty"`

	// TokenLifetime is how long a step-up token lives. Default 5m.
	TokenLifetime caddy.Duration `json:"token_lifetime,omitempty"`

	// SessionLifetime is how long a gateway session lives. Default 12h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// ChallengeLifetime is how long a challenge can be answered. Default 5m.
	ChallengeLifetime caddy.Duration `json:"challenge_lifetime,omitempty"`

	// TokenHeader is a request header in which API clients may present a step-up
	// token, besides the stepup_token cookie. Off by default: Caddy's access log
	// redacts cookies but records other headers, so keep the header out of it with a
	// log filter (see the README).
	TokenHeader string `json:"token_header,omitempty"`

	// MaxHeldRequest limits the body of a sensitive browser form held while the user
	// passes the challenge, then replayed. Default 1 MiB.
	MaxHeldRequest int64 `json:"max_held_request,omitempty"`

	// BindConsoleSession makes the console's sessions follow the gateway's: the
	// console session cookie released at a login ends with that gateway session
	// (logout, "sign out everywhere", an administrator's sign-out, expiry), so a
	// browser keeping it sees the console's login page. Needs the login route's
	// success_cookie. Off by default.
	BindConsoleSession *ConsoleSessionConfig `json:"bind_console_session,omitempty"`

	// Anomaly asks for a second factor at a console login that looks anomalous (a new
	// device, a new network, recent wrong codes) from users with operation protection
	// on and a method bound, even without login protection. Off by default.
	Anomaly *AnomalyConfig `json:"anomaly,omitempty"`

	sms          sms.Provider
	store        store.Store
	releaseStore func() error // lets go of the handler's own hold on the store
	tokens       *token.Tokens
	challenges   *challenge.Service
	rules        policy.Rules
	settings     policy.Settings
	gateway      *gateway.Gateway
	notices      *notify.Queue // nil without notifiers
	logger       *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepup",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
