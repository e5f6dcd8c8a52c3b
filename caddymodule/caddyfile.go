package caddymodule

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var s Handler
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return &s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	stepup {
//	    store memory [<file>]
//	    store redis <url> [<key_prefix>] {  # redis://, rediss://, unix://, redis+sentinel://, redis+cluster://
//	        prefix <key_prefix>
//	        replicas auto|<n>           # replicas that acknowledge each security write
//	        wait_timeout <duration>
//	    }
//	    store <module> ...              # a module of the stepup.stores namespace
//	    signing_key <secret> [<previous>...]            # HS256, >= 32 random bytes; or:
//	    signing_key_file <ed25519.pem> [<previous>...]  # EdDSA
//	    encryption_key <secret> [<previous>...]
//	    issuer <label>
//	    lang en|zh-Hans                 # the pages' language when the browser asks for neither
//	    prefix <path>
//	    login <path> {
//	        method <method>
//	        whoami <path> [<json_field>]   # recommended: the console says who signed in
//	        user_header <name>              # or: a response header of the console names them
//	        user_field <field>              # else: read from the login request, strictly
//	        success_status <code...>
//	        success_cookie <name>
//	        max_body <bytes>
//	        max_held_response <bytes>
//	    }
//	    logout <path>
//	    identity session | header <name>
//	    protect <path...> {
//	        methods <method...>
//	        max_age <duration>
//	        name <text>
//	        description <text>          # says more on the challenge page
//	    }
//	    default login|operation on|off [<method>...]  # where users start; they may change it
//	    require login|operation all|admins|root|<user...>  # a floor nobody but this file changes
//	    methods totp|sms ...
//	    sms webhook <url> {
//	        header <name> <value>
//	        timeout <duration>
//	    }
//	    sms twilio {
//	        account_sid <sid>
//	        auth_token <token>
//	        from <number> | messaging_service_sid <sid>
//	        base_url <url>
//	        timeout <duration>
//	    }
//	    sms log [<outbox file>]       # development: codes go to the log and a file
//	    notify webhook <url> {        # security notices to the user, signed; repeatable
//	        secret <secret>
//	        timeout <duration>
//	        attempts <n>
//	        backoff <duration>
//	    }
//	    notify sms {                  # ...by SMS to the bound phone, via the sms provider
//	        limit <n> [<window>]
//	    }
//	    notify limit <n> [<window>]   # notices per user, all notifiers together
//	    root <user...>
//	    admins <user...>
//	    token_lifetime <duration>
//	    session_lifetime <duration>
//	    challenge_lifetime <duration>
//	    max_held_request <bytes>
//	    token_header <name>             # API clients may send step-up tokens in it
//	    bind_console_session [strict] { # console sessions end with the gateway's
//	        remember <duration>
//	    }
//	    anomaly {                       # a second factor at anomalous logins
//	        new_device <weight>
//	        new_network <weight>
//	        recent_failures <weight> [<wrong codes>]
//	        threshold <score>
//	        log_only_until <date>       # rollout grace period: only log until then
//	        remember_device <duration>
//	        remember_network <duration>
//	    }
//	    brand {                         # the pages look like the console's
//	        name <text>
//	        logo <url>                  # /static/logo.svg or https://...
//	        accent "<#hex>"             # in quotes: # starts a comment
//	        support <url>               # also mailto:
//	        stylesheet <url>
//	    }
//	}
//
// Secrets should come from placeholders such as {env.STEPUP_SIGNING_KEY} or
// {file./run/secrets/stepup}; they are checked here, at load, and kept as
// placeholders in the JSON config. A key directive takes the current key first and,
// during a key rotation, the keys it replaces after it, newest first: those only
// verify and open what they made before.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	var needsCookie error // bind_console_session without the login's success_cookie
	seen := map[string]bool{}
	for d.NextBlock(0) {
		if onceOnly[d.Val()] {
			// A second line would silently replace the first: a rotation written as
			// two signing_key lines would keep the old key current.
			if seen[d.Val()] {
				return d.Errf("%s is set twice: give it once (a key directive takes the current key first, then the keys it replaces)", d.Val())
			}
			seen[d.Val()] = true
		}
		var err error
		switch d.Val() {
		case "store":
			err = h.parseStore(d)
		case "signing_key":
			err = parseSecrets(d, &h.SigningKey, &h.PreviousSigningKeys, append([]string{h.EncryptionKey}, h.PreviousEncryptionKeys...))
		case "signing_key_file":
			err = parseKeyFiles(d, &h.SigningKeyFile, &h.PreviousSigningKeyFiles)
		case "encryption_key":
			err = parseSecrets(d, &h.EncryptionKey, &h.PreviousEncryptionKeys, append([]string{h.SigningKey}, h.PreviousSigningKeys...))
		case "lang":
			err = h.parseLang(d)
		case "issuer":
			err = oneArg(d, &h.Issuer)
		case "prefix":
			if err = oneArg(d, &h.Prefix); err == nil && (!strings.HasPrefix(h.Prefix, "/") || h.Prefix == "/") {
				err = d.Errf("prefix must be a path such as /.stepup, got %q", h.Prefix)
			}
		case "login":
			err = h.parseLogin(d)
		case "logout":
			if err = oneArg(d, &h.Logout); err == nil && !strings.HasPrefix(h.Logout, "/") {
				err = d.Errf("logout path must start with /, got %q", h.Logout)
			}
		case "identity":
			err = h.parseIdentity(d)
		case "protect":
			err = h.parseProtect(d)
		case "enforce":
			err = d.Err(errEnforceReplaced)
		case "default":
			err = h.parseDefault(d)
		case "require":
			err = h.parseRequire(d)
		case "methods":
			err = h.parseMethods(d)
		case "sms":
			err = h.parseSMS(d)
		case "notify":
			err = h.parseNotify(d)
		case "root":
			err = users(d, &h.Root)
		case "admins":
			err = users(d, &h.Admins)
		case "token_lifetime":
			err = duration(d, &h.TokenLifetime)
		case "session_lifetime":
			err = duration(d, &h.SessionLifetime)
		case "challenge_lifetime":
			err = duration(d, &h.ChallengeLifetime)
		case "max_held_request":
			err = size(d, &h.MaxHeldRequest)
		case "token_header":
			err = oneArg(d, &h.TokenHeader)
		case "bind_console_session":
			needsCookie, err = h.parseBindConsoleSession(d)
		case "anomaly":
			err = h.parseAnomaly(d)
		case "brand":
			err = h.parseBrand(d)
		default:
			err = d.Errf("unknown stepup subdirective %q (expected store, signing_key, signing_key_file, encryption_key, issuer, lang, prefix, login, logout, identity, protect, default, require, methods, sms, notify, root, admins, token_lifetime, session_lifetime, challenge_lifetime, max_held_request, token_header, bind_console_session, anomaly or brand)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if needsCookie != nil && (h.Login == nil || h.Login.SuccessCookie == "") {
		return needsCookie
	}
	return h.checkKeysPresent(d)
}

// onceOnly are the stepup subdirectives a block may give once.
var onceOnly = map[string]bool{
	"store": true, "signing_key": true, "signing_key_file": true, "encryption_key": true, "lang": true,
	"issuer": true, "prefix": true, "token_lifetime": true, "session_lifetime": true, "challenge_lifetime": true,
}

// parseLang reads `lang <code>`, the pages' default language.
func (h *Handler) parseLang(d *caddyfile.Dispenser) error {
	if err := oneArg(d, &h.Lang); err != nil {
		return err
	}
	l, ok := locale.ParseSetting(h.Lang)
	if !ok {
		return d.Errf("lang: the gateway speaks %s; got %q", langCodes(), h.Lang)
	}
	h.Lang = l.Code() // "zh" and "zh-CN" mean zh-Hans
	return nil
}

// parseSecrets reads a key directive: the current key and the previous ones, newest
// first. Each is checked now, so a short or password-like key, or one given twice,
// fails at load with the file and line; so does a key also given to the other
// directive (others: the signing keys for encryption_key, and the other way round).
// The JSON keeps what was written (the placeholders).
func parseSecrets(d *caddyfile.Dispenser, current *string, previous *[]string, others []string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s needs a value: at least 32 random bytes, e.g. from `openssl rand -base64 32`; during a rotation the new key first, then the keys it replaces", name)
	}
	vals := make([]string, len(args))
	for i, a := range args {
		which := name
		if i > 0 {
			which = fmt.Sprintf("%s (previous key %d)", name, i)
		}
		vals[i] = expandSecret(a)
		if vals[i] == "" {
			return d.Errf("%s %s is empty: set it to at least 32 random bytes, e.g. from `openssl rand -base64 32`", which, a)
		}
		if err := token.CheckHMACKey([]byte(vals[i])); err != nil {
			return d.Errf("%s: %v", which, err)
		}
		for j := range i {
			if sameKey(vals[i], vals[j]) {
				return d.Errf("%s: key %d is the same as key %d; a previous key must differ from the current one and from the others", name, i+1, j+1)
			}
		}
	}
	for _, o := range others {
		for _, v := range vals {
			if sameKey(v, expandSecret(o)) {
				return d.Errf("%s: a key is also a signing or encryption key of the other directive; give each use its own key", name)
			}
		}
	}
	*current, *previous = args[0], args[1:]
	if len(*previous) == 0 {
		*previous = nil
	}
	return nil
}

// sameKey compares two configured keys in constant time.
func sameKey(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// parseKeyFiles reads `signing_key_file <current.pem> [<previous.pem>...]`. The
// files are read in Provision.
func parseKeyFiles(d *caddyfile.Dispenser, current *string, previous *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Err("signing_key_file needs the path of an Ed25519 private key (PEM); during a rotation the new key's first, then those it replaces")
	}
	for i, a := range args {
		for j := range i {
			if a == args[j] {
				return d.Errf("signing_key_file: file %d is the same as file %d", i+1, j+1)
			}
		}
	}
	*current, *previous = args[0], args[1:]
	if len(*previous) == 0 {
		*previous = nil
	}
	return nil
}

// checkKeysPresent fails at load when keys are missing outside the demo mode (memory
// store without a file), pointing at the stepup block.
func (h *Handler) checkKeysPresent(d *caddyfile.Dispenser) error {
	st, err := readStore(h.StoreRaw)
	if err != nil || st.demo {
		return nil // a bad store was reported where it was written
	}
	if h.SigningKey == "" && h.SigningKeyFile == "" {
		return d.Errf("signing_key (or signing_key_file) is required with store %s: at least 32 random bytes, e.g. signing_key {env.STEPUP_SIGNING_KEY}", st.backend)
	}
	if h.EncryptionKey == "" {
		return d.Errf("encryption_key is required with store %s: at least 32 random bytes, e.g. encryption_key {env.STEPUP_ENCRYPTION_KEY}", st.backend)
	}
	return nil
}

func (h *Handler) parseLogin(d *caddyfile.Dispenser) error {
	h.Login = &LoginConfig{}
	if !d.NextArg() {
		return d.Err("login needs the console's login path, e.g. `login /login`")
	}
	h.Login.Path = d.Val()
	if !strings.HasPrefix(h.Login.Path, "/") {
		return d.Errf("login path must start with /, got %q", h.Login.Path)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "method":
			if err = oneArg(d, &h.Login.Method); err == nil && !validMethod(h.Login.Method) {
				err = d.Errf("login method: expected an HTTP method such as POST, got %q", h.Login.Method)
			}
		case "whoami":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 || !strings.HasPrefix(args[0], "/") {
				return d.Err("expected `whoami <path> [<json_field>]`, e.g. `whoami /api/whoami user`: the console's URL that names the signed-in user")
			}
			h.Login.WhoAmI = &WhoAmIConfig{URI: args[0]}
			if len(args) == 2 {
				h.Login.WhoAmI.Field = args[1]
			}
		case "user_header":
			err = oneArg(d, &h.Login.UserHeader)
		case "user_field":
			err = oneArg(d, &h.Login.UserField)
		case "success_status":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("success_status needs one or more status codes, e.g. 302 303")
			}
			for _, a := range args {
				code, cerr := strconv.Atoi(a)
				if cerr != nil || code < 100 || code > 599 {
					return d.Errf("success_status: expected an HTTP status code, got %q", a)
				}
				h.Login.SuccessStatus = append(h.Login.SuccessStatus, code)
			}
		case "success_cookie":
			if err = oneArg(d, &h.Login.SuccessCookie); err == nil {
				if cerr := h.Login.checkSuccessCookie(); cerr != nil {
					err = d.Errf("%v", cerr)
				}
			}
		case "max_body":
			err = size(d, &h.Login.MaxBody)
		case "max_held_response":
			err = size(d, &h.Login.MaxHeldResponse)
		default:
			err = d.Errf("unknown login subdirective %q (expected method, whoami, user_header, user_field, success_status, success_cookie, max_body or max_held_response)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if err := h.Login.checkUserSource(); err != nil {
		return d.Errf("login: %v", err)
	}
	return nil
}

// parseSMS hands the provider's tokens to the provider module's own parser.
func (h *Handler) parseSMS(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("sms needs a provider: webhook, twilio or log")
	}
	name := d.Val()
	if _, err := caddy.GetModule("stepup.sms." + name); err != nil {
		return d.Errf("unknown sms provider %q (expected webhook, twilio or log)", name)
	}
	unm, err := caddyfile.UnmarshalModule(d, "stepup.sms."+name)
	if err != nil {
		return err
	}
	h.SMSRaw = caddyconfig.JSONModuleObject(unm, "provider", name, nil)
	return nil
}

func (h *Handler) parseIdentity(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "session":
		h.Identity = &IdentityConfig{Source: "session"}
	case len(args) == 2 && args[0] == "header":
		h.Identity = &IdentityConfig{Source: "header", Header: args[1]}
	default:
		return d.Err("expected `identity session` or `identity header <name>`")
	}
	return nil
}

// parseRuleText reads `name [<lang>] <text>` or `description [<lang>] <text>`: the
// rule's text, or its text for readers of lang.
func parseRuleText(d *caddyfile.Dispenser, p *ProtectConfig) error {
	what := d.Val()
	args := d.RemainingArgs()
	var text string
	switch len(args) {
	case 1:
		text = args[0]
		dst := &p.Description
		if what == "name" {
			dst = &p.Name
		}
		if *dst != "" {
			return d.Errf("%s is set twice in this protect block", what)
		}
		*dst = text
		return nil
	case 2:
		l, ok := locale.ParseSetting(args[0])
		if !ok {
			return d.Errf("%s %s: the gateway speaks %s; got %q", what, args[0], langCodes(), args[0])
		}
		if p.Translations == nil {
			p.Translations = map[string]RuleText{}
		}
		t := p.Translations[l.Code()]
		dst := &t.Description
		if what == "name" {
			dst = &t.Name
		}
		if *dst != "" {
			return d.Errf("%s %s is set twice in this protect block (%q and %q mean the same language)", what, l.Code(), args[0], l.Code())
		}
		*dst = args[1]
		p.Translations[l.Code()] = t
		return nil
	}
	return d.Errf("expected `%s <text>` or `%s <lang> <text>`, e.g. %s zh-Hans \"…\"", what, what, what)
}

func (h *Handler) parseProtect(d *caddyfile.Dispenser) error {
	var p ProtectConfig
	p.Paths = d.RemainingArgs()
	if len(p.Paths) == 0 {
		return d.Err("protect needs one or more path patterns, e.g. `protect /api/instances/*`")
	}
	for _, pat := range p.Paths {
		if err := policy.CheckPathPattern(pat); err != nil {
			return d.Errf("protect: %v", err)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "methods":
			p.Methods = d.RemainingArgs()
			if len(p.Methods) == 0 {
				return d.Err("methods needs one or more HTTP methods, e.g. POST PUT DELETE")
			}
			for _, m := range p.Methods {
				if !validMethod(m) {
					return d.Errf("methods: expected HTTP methods such as POST or DELETE, got %q", m)
				}
			}
		case "max_age":
			err = duration(d, &p.MaxAge)
		case "name", "description":
			err = parseRuleText(d, &p)
		default:
			err = d.Errf("unknown protect subdirective %q (expected methods, max_age, name or description, each name or description optionally preceded by a language)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Protect = append(h.Protect, p)
	return nil
}

// errEnforceReplaced says what to write instead of the enforce directive.
const errEnforceReplaced = "enforce is replaced by `default` (where users start; they may change it) and `require` (a floor nobody but this file changes): " +
	"write `require operation all` or `require login admins` for a mandate, `default operation on|off` or `default login on|off [<method>...]` for a default"

// parseDefault reads `default login|operation on|off [<method>...]`.
func (h *Handler) parseDefault(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 || (args[0] != "login" && args[0] != "operation") || (args[1] != "on" && args[1] != "off") {
		return d.Err("expected `default login|operation on|off [<method>...]`, e.g. `default login on totp`")
	}
	if h.Defaults == nil {
		h.Defaults = &DefaultsConfig{}
	}
	ch := &ChoiceConfig{On: args[1] == "on", Methods: args[2:]}
	for _, m := range ch.Methods {
		if _, err := policy.ParseMethod(m); err != nil {
			return d.Errf("default %s: %v", args[0], err)
		}
	}
	dst := &h.Defaults.Operation
	if args[0] == "login" {
		dst = &h.Defaults.Login
	}
	if *dst != nil {
		return d.Errf("default %s is set twice", args[0])
	}
	*dst = ch
	return nil
}

// parseRequire reads `require login|operation all|admins|root|<user...>`.
func (h *Handler) parseRequire(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 || (args[0] != "login" && args[0] != "operation") {
		return d.Err("expected `require login|operation all|admins|root|<user...>`, e.g. `require login admins`")
	}
	if h.Require == nil {
		h.Require = &RequireConfig{}
	}
	list := &h.Require.Operation
	if args[0] == "login" {
		list = &h.Require.Login
	}
	*list = append(*list, args[1:]...)
	if _, err := audience(*list); err != nil {
		return d.Errf("require %s: %v", args[0], err)
	}
	return nil
}

func (h *Handler) parseMethods(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Err("methods needs one or more of totp, sms")
	}
	for _, a := range args {
		if _, err := policy.ParseMethod(a); err != nil {
			return d.Errf("methods: %v", err)
		}
	}
	h.Methods = args
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s needs a value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one value, got more", name)
	}
	return nil
}

func users(d *caddyfile.Dispenser, dst *[]string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s needs one or more user names", name)
	}
	*dst = append(*dst, args...)
	return nil
}

func duration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var raw string
	if err := oneArg(d, &raw); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(raw)
	if err != nil || dur <= 0 {
		return d.Errf("%s: expected a positive duration such as 5m or 90s, got %q", name, raw)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func size(d *caddyfile.Dispenser, dst *int64) error {
	name := d.Val()
	var raw string
	if err := oneArg(d, &raw); err != nil {
		return err
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return d.Errf("%s: expected a positive number of bytes, got %q", name, raw)
	}
	*dst = n
	return nil
}

func validMethod(m string) bool {
	switch strings.ToUpper(m) {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}
