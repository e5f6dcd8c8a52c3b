package caddymodule

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/sms"
	"github.com/caddy-stepup/stepup/token"
)

// Defaults, from DESIGN.md's security numbers.
const (
	defaultPrefix            = "/.stepup"
	defaultIssuer            = "caddy-stepup"
	defaultMaxAge            = 5 * time.Minute
	defaultTokenLifetime     = 5 * time.Minute
	defaultSessionLifetime   = 12 * time.Hour
	defaultChallengeLifetime = 5 * time.Minute
	defaultMaxLoginBody      = 64 << 10
	defaultMaxHeldRequest    = 1 << 20
	defaultMaxHeldResponse   = 64 << 10
	defaultConsoleRemember   = 30 * 24 * time.Hour
	defaultRememberDevice    = 90 * 24 * time.Hour
	defaultRememberNetwork   = 30 * 24 * time.Hour
	defaultRecentFailures    = 3
)

// Provision sets defaults and builds the store, token signer and challenge service.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("stepup: metrics: %v", err)
	}
	h.setDefaults()

	if h.SMSRaw != nil {
		mod, err := ctx.LoadModule(h, "SMSRaw")
		if err != nil {
			return fmt.Errorf("stepup: loading the sms provider: %v", err)
		}
		h.sms = mod.(sms.Provider)
	}
	rules, err := h.compileRules()
	if err != nil {
		return err
	}
	h.rules = rules
	if h.settings, err = h.compileSettings(); err != nil {
		return err
	}

	choice, err := readStore(h.StoreRaw)
	if err != nil {
		return err
	}
	demo := choice.demo
	signing, material, err := h.signingConfig(demo)
	if err != nil {
		return err
	}
	sealKey, err := secret("encryption_key", h.EncryptionKey, demo, &demoKeys.encryption)
	if err != nil {
		return err
	}
	previousSealKeys, err := previousSecrets("encryption_key", h.EncryptionKey, h.PreviousEncryptionKeys)
	if err != nil {
		return err
	}
	if err := distinctUses(material, append([][]byte{sealKey}, previousSealKeys...)); err != nil {
		return err
	}
	if err := h.loadStore(ctx, choice); err != nil {
		return err
	}

	signing.Issuer = h.Issuer
	signing.Audience = h.Issuer
	signing.Lifetime = time.Duration(h.TokenLifetime)
	signing.SessionLifetime = time.Duration(h.SessionLifetime)
	if h.tokens, err = token.New(signing, h.store); err != nil {
		return fmt.Errorf("stepup: %v", err)
	}
	sealer, err := challenge.NewSealer(sealKey, previousSealKeys...)
	if err != nil {
		return fmt.Errorf("stepup: encryption_key: %v", err)
	}
	h.logger.Info("keys", zap.Strings("signing_key_ids", h.tokens.KeyIDs()), zap.Strings("encryption_key_ids", sealer.KeyIDs()))
	svc := challenge.Service{
		Store:    h.store,
		Sealer:   sealer,
		Issuer:   h.Issuer,
		Limits:   challenge.Limits{ChallengeTTL: time.Duration(h.ChallengeLifetime)},
		Resealed: h.logResealed,
	}
	if h.sms != nil { // never a typed nil in the interface
		svc.SMS = countSends(h.sms) // its sends counted for metrics
	}
	h.challenges, err = challenge.New(svc)
	if err != nil {
		return fmt.Errorf("stepup: %v", err)
	}
	if err := h.challenges.CheckSMSLength(); err != nil {
		h.logger.Warn("issuer name makes SMS texts longer than one segment", zap.Error(err))
	}
	keys, err := deriveKeys(material)
	if err != nil {
		return err
	}
	if err := h.checkAccountSafety(); err != nil {
		return err
	}
	if err := h.provisionNotify(ctx); err != nil {
		return err
	}
	opts, err := h.gatewayOptions(keys)
	if err != nil {
		return err
	}
	if h.gateway, err = gateway.New(opts, h.store, h.tokens, h.challenges); err != nil {
		return fmt.Errorf("stepup: %v", err)
	}
	h.logPolicy()
	if demo {
		h.logger.Warn("demo mode: memory store without a file and random keys; sessions and bindings last only while this process runs",
			zap.String("hint", "set store, signing_key and encryption_key for production"))
	}
	return nil
}

// derivedKeys are the keys derived from the signing keys, one per use, so every
// instance with the same signing keys has the same ones. Each holds one key per
// signing key, the current one's first: during a rotation the previous keys' still
// verify (form tokens, device cookies) and find (console-session fingerprints).
type derivedKeys struct{ form, console, device [][]byte }

// deriveKeys derives the keys of each use from material, the signing keys (HMAC keys,
// or Ed25519 seeds), current first.
func deriveKeys(material [][]byte) (derivedKeys, error) {
	var keys derivedKeys
	for _, k := range []struct {
		dst  *[][]byte
		info string
	}{{&keys.form, "caddy-stepup csrf v1"}, {&keys.console, "caddy-stepup console session v1"}, {&keys.device, "caddy-stepup device v1"}} {
		for _, m := range material {
			d, err := hkdf.Key(sha256.New, m, nil, k.info, 32)
			if err != nil {
				return keys, err
			}
			*k.dst = append(*k.dst, d)
		}
	}
	return keys, nil
}

// logResealed tells the operator's log about a user's factors found sealed with a
// previous encryption key when used. Never the secret, only who.
func (h *Handler) logResealed(user string, err error) {
	if err != nil {
		h.logger.Warn("factors sealed with a previous encryption key were not resealed with the current one; they still open, and `caddy stepup reseal` reseals them",
			zap.String("user", user), zap.Error(err))
		return
	}
	h.logger.Debug("factors resealed with the current encryption key", zap.String("user", user))
}

// gatewayOptions are the flows' settings from this config.
func (h *Handler) gatewayOptions(keys derivedKeys) (gateway.Options, error) {
	o := gateway.Options{
		Prefix: h.Prefix, Issuer: h.Issuer, Lang: h.lang(), RuleTexts: h.ruleTexts(), Logout: h.Logout, Rules: h.rules, Settings: h.settings,
		TokenHeader:    h.TokenHeader,
		MaxHeldRequest: h.MaxHeldRequest, SMS: h.sms != nil, FormKey: keys.form[0], PreviousFormKeys: keys.form[1:],
		Now: now, Logger: h.logger, AuditLogger: h.logger.Named("audit"), Events: newMetricsEvents(h.sms), ClientIP: clientIP, SetUser: setUser,
	}
	o.Notify = h.noticeHook()
	if h.Identity.Source == "header" {
		o.IdentityHeader = h.Identity.Header
	}
	if h.Brand != nil {
		// Check works out the pages' policy and colours once, for the gateway's copy.
		if err := h.Brand.Check(); err != nil {
			return o, fmt.Errorf("stepup: brand: %v", err)
		}
		o.Brand = *h.Brand
	}
	if l := h.Login; l != nil {
		o.Login = &gateway.LoginOptions{
			Path: l.Path, Method: l.Method, UserHeader: l.UserHeader, UserField: l.UserField,
			SuccessStatus: l.SuccessStatus, SuccessCookie: l.SuccessCookie, MaxBody: l.MaxBody, MaxHeldResponse: l.MaxHeldResponse,
		}
		if l.WhoAmI != nil {
			o.Login.WhoAmIURI, o.Login.WhoAmIField = l.WhoAmI.URI, l.WhoAmI.Field
		}
	}
	if c := h.BindConsoleSession; c != nil && h.Login != nil {
		o.ConsoleSession = &gateway.ConsoleSessionOptions{Cookie: h.Login.SuccessCookie, Strict: c.Strict, Remember: time.Duration(c.Remember),
			Key: keys.console[0], PreviousKeys: keys.console[1:]}
	}
	if a := h.Anomaly; a != nil {
		rules, err := a.rules()
		if err != nil {
			return o, fmt.Errorf("stepup: anomaly: %v", err)
		}
		o.Risk = &gateway.RiskOptions{Rules: rules, Failures: a.Failures, DeviceLifetime: time.Duration(a.RememberDevice),
			NetworkMemory: time.Duration(a.RememberNetwork), Key: keys.device[0], PreviousKeys: keys.device[1:]}
	}
	return o, nil
}

func (h *Handler) setDefaults() {
	if h.Issuer == "" {
		h.Issuer = defaultIssuer
	}
	if h.Lang == "" {
		h.Lang = locale.English.Code()
	}
	if h.Prefix == "" {
		h.Prefix = defaultPrefix
	}
	h.Prefix = strings.TrimSuffix(h.Prefix, "/")
	if h.Login != nil {
		if h.Login.Method == "" {
			h.Login.Method = http.MethodPost
		}
		h.Login.Method = strings.ToUpper(h.Login.Method)
		if h.Login.WhoAmI == nil && h.Login.UserHeader == "" && h.Login.UserField == "" {
			h.Login.UserField = "username"
		}
		if len(h.Login.SuccessStatus) == 0 {
			h.Login.SuccessStatus = []int{http.StatusFound, http.StatusSeeOther}
		}
		if h.Login.MaxBody == 0 {
			h.Login.MaxBody = defaultMaxLoginBody
		}
		if h.Login.MaxHeldResponse == 0 {
			h.Login.MaxHeldResponse = defaultMaxHeldResponse
		}
	}
	if h.Identity == nil {
		h.Identity = &IdentityConfig{}
	}
	if h.Identity.Source == "" {
		h.Identity.Source = "session"
	}
	setDuration(&h.TokenLifetime, defaultTokenLifetime)
	setDuration(&h.SessionLifetime, defaultSessionLifetime)
	setDuration(&h.ChallengeLifetime, defaultChallengeLifetime)
	if h.MaxHeldRequest == 0 {
		h.MaxHeldRequest = defaultMaxHeldRequest
	}
	if c := h.BindConsoleSession; c != nil {
		setDuration(&c.Remember, defaultConsoleRemember)
	}
	if a := h.Anomaly; a != nil {
		setDuration(&a.RememberDevice, defaultRememberDevice)
		setDuration(&a.RememberNetwork, defaultRememberNetwork)
		if a.Failures == 0 {
			a.Failures = defaultRecentFailures
		}
	}
}

func setDuration(d *caddy.Duration, def time.Duration) {
	if *d == 0 {
		*d = caddy.Duration(def)
	}
}

func (h *Handler) compileRules() (policy.Rules, error) {
	var rules policy.Rules
	for i, p := range h.Protect {
		if len(p.Paths) == 0 {
			return nil, fmt.Errorf("stepup: protect rule %d has no paths", i+1)
		}
		for _, pat := range p.Paths {
			if err := policy.CheckPathPattern(pat); err != nil {
				return nil, fmt.Errorf("stepup: protect: %v", err)
			}
		}
		r := policy.OperationRule{Name: p.Name, Paths: p.Paths, MaxAge: time.Duration(p.MaxAge), Description: p.Description}
		if r.Name == "" {
			r.Name = strings.Join(p.Paths, " ")
		}
		if r.MaxAge <= 0 {
			r.MaxAge = defaultMaxAge
		}
		langs := map[*locale.Lang]string{}
		for code := range p.Translations {
			l, ok := locale.ParseSetting(code)
			if !ok {
				return nil, fmt.Errorf("stepup: protect %q: translations: the gateway speaks %s; got %q", r.Name, langCodes(), code)
			}
			if other, dup := langs[l]; dup {
				return nil, fmt.Errorf("stepup: protect %q: translations %q and %q are the same language (%s): give one", r.Name, other, code, l.Code())
			}
			langs[l] = code
		}
		for _, m := range p.Methods {
			r.Methods = append(r.Methods, strings.ToUpper(m))
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// compileSettings reads who must pass what: the methods on offer, the defaults and
// the mandates. Each part stands alone: a part left out keeps its default.
func (h *Handler) compileSettings() (policy.Settings, error) {
	if len(h.Enforce) > 0 {
		return policy.Settings{}, fmt.Errorf("stepup: %s", errEnforceReplaced)
	}
	out := policy.Settings{Roles: policy.Roles{Root: h.Root, Admins: h.Admins}, Defaults: map[policy.Kind]policy.Choice{}, Mandates: map[policy.Kind]policy.Audience{}}
	smsProvider := h.SMSRaw != nil || h.sms != nil
	methods := h.Methods
	if len(methods) == 0 {
		methods = []string{string(policy.TOTP)}
		if smsProvider {
			methods = append(methods, string(policy.SMS))
		}
	}
	var err error
	if out.Methods, err = parseMethodList(methods); err != nil {
		return out, fmt.Errorf("stepup: methods: %v", err)
	}
	if slices.Contains(out.Methods, policy.SMS) && !smsProvider {
		return out, fmt.Errorf("stepup: the sms method needs an sms provider: add `sms webhook <url>`, `sms twilio {...}` or, for development, `sms log`")
	}
	if h.Defaults != nil {
		for k, c := range map[policy.Kind]*ChoiceConfig{policy.Login: h.Defaults.Login, policy.Operation: h.Defaults.Operation} {
			if c == nil {
				continue
			}
			ch := policy.Choice{On: c.On}
			if ch.Methods, err = parseMethodList(c.Methods); err != nil {
				return out, fmt.Errorf("stepup: default %s: %v", k, err)
			}
			for _, m := range ch.Methods {
				if !slices.Contains(out.Methods, m) {
					return out, fmt.Errorf("stepup: default %s: %s is not among the enabled methods %v", k, m, out.Methods)
				}
			}
			out.Defaults[k] = ch
		}
	}
	if h.Require != nil {
		for k, list := range map[policy.Kind][]string{policy.Login: h.Require.Login, policy.Operation: h.Require.Operation} {
			if out.Mandates[k], err = audience(list); err != nil {
				return out, fmt.Errorf("stepup: require %s: %v", k, err)
			}
		}
	}
	return out, nil
}

func parseMethodList(names []string) ([]policy.Method, error) {
	var out []policy.Method
	for _, n := range names {
		m, err := policy.ParseMethod(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// audience reads a require list: "all", "admins" (root and administrators), "root",
// or user names.
func audience(list []string) (policy.Audience, error) {
	var a policy.Audience
	for _, u := range list {
		switch u {
		case "all":
			a.All = true
		case "admins":
			a.Admins = true
		case "root":
			a.Root = true
		case "none":
			return a, fmt.Errorf("\"none\" is the default: leave the line out")
		default:
			c := policy.CanonicalUser(u)
			if c == "" {
				return a, fmt.Errorf("%q is not a user name", u)
			}
			a.Users = append(a.Users, c)
		}
	}
	if a.All && len(list) > 1 {
		return a, fmt.Errorf("\"all\" stands alone; it cannot be listed with others")
	}
	return a, nil
}

// demoKeys are the random keys of the demo mode, made once per process so that a
// config reload keeps sessions and bindings readable.
var demoKeys struct {
	signing, encryption []byte
	once                sync.Once
}

// signingConfig reads the signing keys: the token configuration, and the material the
// other keys are derived from (the HMAC keys, or the Ed25519 seeds), current first.
func (h *Handler) signingConfig(demo bool) (token.Config, [][]byte, error) {
	if h.SigningKeyFile != "" {
		if h.SigningKey != "" || len(h.PreviousSigningKeys) > 0 {
			return token.Config{}, nil, fmt.Errorf("stepup: set signing_key or signing_key_file, not both")
		}
		var cfg token.Config
		var material [][]byte
		for i, file := range append([]string{h.SigningKeyFile}, h.PreviousSigningKeyFiles...) {
			which := "signing_key_file"
			if i > 0 {
				which = fmt.Sprintf("signing_key_file (previous key %d)", i)
			}
			pemBytes, err := os.ReadFile(caddy.NewReplacer().ReplaceKnown(file, ""))
			if err != nil {
				return token.Config{}, nil, fmt.Errorf("stepup: %s: %v", which, err)
			}
			key, err := token.LoadEd25519Key(pemBytes)
			if err != nil {
				return token.Config{}, nil, fmt.Errorf("stepup: %s: %v", which, err)
			}
			if i == 0 {
				cfg.Ed25519Key = key
			} else {
				cfg.PreviousEd25519Keys = append(cfg.PreviousEd25519Keys, key.Public().(ed25519.PublicKey))
			}
			material = append(material, key.Seed())
		}
		return cfg, material, nil
	}
	if len(h.PreviousSigningKeyFiles) > 0 {
		return token.Config{}, nil, fmt.Errorf("stepup: previous_signing_key_files need a current signing_key_file")
	}
	key, err := secret("signing_key", h.SigningKey, demo, &demoKeys.signing)
	if err != nil {
		return token.Config{}, nil, err
	}
	previous, err := previousSecrets("signing_key", h.SigningKey, h.PreviousSigningKeys)
	if err != nil {
		return token.Config{}, nil, err
	}
	return token.Config{HMACKey: key, PreviousHMACKeys: previous}, append([][]byte{key}, previous...), nil
}

// previousSecrets expands and checks the previous keys of a key directive. They need
// the current key to be configured (the demo mode's random key has no predecessors).
func previousSecrets(name, current string, configured []string) ([][]byte, error) {
	if len(configured) == 0 {
		return nil, nil
	}
	if current == "" {
		return nil, fmt.Errorf("stepup: previous %s keys need a current %s", name, name)
	}
	out := make([][]byte, 0, len(configured))
	for i, c := range configured {
		val := expandSecret(c)
		if val == "" {
			return nil, fmt.Errorf("stepup: %s: previous key %d %s is empty (is the variable set? remove a key that is no longer needed)", name, i+1, c)
		}
		if err := token.CheckHMACKey([]byte(val)); err != nil {
			return nil, fmt.Errorf("stepup: %s: previous key %d: %v", name, i+1, err)
		}
		out = append(out, []byte(val))
	}
	return out, nil
}

// distinctUses refuses a key configured both to sign and to encrypt: each use has its
// own key, so one leaking or rotating does not touch the other.
func distinctUses(signing, encryption [][]byte) error {
	for _, s := range signing {
		for _, e := range encryption {
			if subtle.ConstantTimeCompare(s, e) == 1 {
				return errors.New("stepup: a signing key is also an encryption key; give each use its own key")
			}
		}
	}
	return nil
}

// secret expands placeholders in a configured key and checks it. In the demo mode an
// empty key becomes a random one; anywhere else it is an error, never a silent default.
func secret(name, configured string, demo bool, demoKey *[]byte) ([]byte, error) {
	val := expandSecret(configured)
	if val == "" {
		if !demo {
			if configured != "" {
				return nil, fmt.Errorf("stepup: %s %s is empty (is the variable set?)", name, configured)
			}
			return nil, fmt.Errorf("stepup: %s is required with a redis store or a store file: at least 32 random bytes, e.g. {env.STEPUP_%s} set from `openssl rand -base64 32`", name, strings.ToUpper(name))
		}
		demoKeys.once.Do(func() {
			demoKeys.signing = randomBytes(32)
			demoKeys.encryption = randomBytes(32)
		})
		return *demoKey, nil
	}
	if err := token.CheckHMACKey([]byte(val)); err != nil {
		return nil, fmt.Errorf("stepup: %s: %v", name, err)
	}
	return []byte(val), nil
}

// expandSecret resolves {env.*} and {file.*} placeholders in a configured key and
// drops one trailing line break, so every instance derives the same key whether the
// secret file ends with a newline or not.
func expandSecret(configured string) string {
	val := caddy.NewReplacer().ReplaceKnown(configured, "")
	val = strings.TrimSuffix(val, "\n")
	return strings.TrimSuffix(val, "\r")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// Validate checks the configuration once defaults are set.
func (h *Handler) Validate() error {
	if !strings.HasPrefix(h.Prefix, "/") || len(h.Prefix) < 2 {
		return fmt.Errorf("stepup: prefix %q must be a path like /.stepup", h.Prefix)
	}
	if _, ok := locale.ParseSetting(h.Lang); !ok {
		return fmt.Errorf("stepup: lang: the gateway speaks %s; got %q", langCodes(), h.Lang)
	}
	switch h.Identity.Source {
	case "session":
		if h.Login == nil && len(h.rules) > 0 {
			return fmt.Errorf("stepup: identity session needs a login route to learn who signs in; add `login /login` or use `identity header NAME`")
		}
	case "header":
		if h.Identity.Header == "" {
			return fmt.Errorf("stepup: identity header needs a header name")
		}
	default:
		return fmt.Errorf("stepup: unknown identity source %q (expected session or header)", h.Identity.Source)
	}
	if h.Login != nil {
		if !strings.HasPrefix(h.Login.Path, "/") {
			return fmt.Errorf("stepup: login path %q must start with /", h.Login.Path)
		}
		if err := h.Login.checkUserSource(); err != nil {
			return fmt.Errorf("stepup: login: %v", err)
		}
		if err := h.Login.checkSuccessCookie(); err != nil {
			return fmt.Errorf("stepup: login: %v", err)
		}
	}
	if h.Logout != "" && !strings.HasPrefix(h.Logout, "/") {
		return fmt.Errorf("stepup: logout path %q must start with /", h.Logout)
	}
	if h.Brand != nil {
		if err := h.Brand.Check(); err != nil {
			return fmt.Errorf("stepup: brand: %v", err)
		}
	}
	if err := h.checkNotify(); err != nil {
		return err
	}
	return h.checkAccountSafety()
}

// checkAccountSafety checks bind_console_session and anomaly against the rest of the
// config (Provision asks first, so a JSON config fails as clearly as a Caddyfile).
func (h *Handler) checkAccountSafety() error {
	if c := h.BindConsoleSession; c != nil {
		switch {
		case h.Identity.Source != "session":
			return fmt.Errorf("stepup: bind_console_session follows gateway sessions, which identity %s does not have", h.Identity.Source)
		case h.Login == nil || h.Login.SuccessCookie == "":
			return fmt.Errorf("stepup: bind_console_session needs the login route's success_cookie: the console's session cookie, e.g. `login /login { success_cookie session }`")
		case c.Remember < h.SessionLifetime:
			return fmt.Errorf("stepup: bind_console_session remember (%v) must be at least session_lifetime (%v)", time.Duration(c.Remember), time.Duration(h.SessionLifetime))
		}
	}
	if a := h.Anomaly; a != nil {
		if h.Login == nil {
			return fmt.Errorf("stepup: anomaly judges console logins; add the console's login route, e.g. `login /login`")
		}
		if _, err := a.rules(); err != nil {
			return fmt.Errorf("stepup: anomaly: %v", err)
		}
		if a.Failures < 1 {
			return fmt.Errorf("stepup: anomaly failures must be 1 or more, got %d", a.Failures)
		}
	}
	return nil
}

// Cleanup sends the notices still queued and lets go of the handler's hold on the
// store. The handler holds the store apart from its module, which Caddy cleans up in
// no set order beside it, so the queue's last notices still count in it.
func (h *Handler) Cleanup() error {
	h.closeNotify() // first: its last notices count in the store
	if h.releaseStore == nil {
		return nil
	}
	release := h.releaseStore
	h.releaseStore = nil // once only: a second release would take another config's hold
	return release()
}

// ruleTexts are the protect rules' names and descriptions in other languages, by the
// rule's name (compileRules checked the languages).
func (h *Handler) ruleTexts() map[string]map[*locale.Lang]gateway.RuleText {
	out := map[string]map[*locale.Lang]gateway.RuleText{}
	for _, p := range h.Protect {
		name := p.Name
		if name == "" {
			name = strings.Join(p.Paths, " ")
		}
		for code, t := range p.Translations {
			l, ok := locale.ParseSetting(code)
			if !ok {
				continue
			}
			if out[name] == nil {
				out[name] = map[*locale.Lang]gateway.RuleText{}
			}
			if _, seen := out[name][l]; !seen {
				out[name][l] = gateway.RuleText{Name: t.Name, Description: t.Description}
			}
		}
	}
	return out
}

// lang is the operator's default language (Validate checked it).
func (h *Handler) lang() *locale.Lang {
	l, _ := locale.ParseSetting(h.Lang)
	return l
}

// langCodes lists the languages the gateway speaks, for error messages.
func langCodes() string {
	var codes []string
	for _, l := range locale.All() {
		codes = append(codes, strconv.Quote(l.Code())+" ("+l.Name()+")")
	}
	return strings.Join(codes, " and ")
}
