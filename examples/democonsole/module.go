package democonsole

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("democonsole", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("democonsole", httpcaddyfile.Before, "reverse_proxy")
}

// states shares one console state (sessions, each user's instances and
// balance) among all democonsole handlers of the process. Because a new config
// is provisioned before the old one is cleaned up, the state survives config
// reloads; it is dropped when no loaded config uses the handler any more.
var states = caddy.NewUsagePool()

// stateKey is the only key in states.
const stateKey = "democonsole"

// Destruct implements caddy.Destructor; the state holds no resources.
func (*state) Destruct() error { return nil }

// Handler is the Caddy HTTP handler module "http.handlers.democonsole": it
// serves the demo console. It is a terminal handler and never calls the next
// handler. No configuration is needed.
type Handler struct {
	// Title is the console name in the page header and browser tab.
	// Default: "Demo Cloud Console".
	Title string `json:"title,omitempty"`

	// Outbox is the outbox file of the gateway's "log" SMS provider (development
	// only). When set, the console serves GET /outbox, a page listing the latest
	// messages written there (verification codes included), with no sign-in needed,
	// and links it from the login page. Placeholders such as {env.*} are replaced.
	Outbox string `json:"outbox,omitempty"`

	// Announce is the URL people should open to use the demo: usually the site
	// of the gateway in front of the console, e.g. "http://localhost:8080".
	// When set, the handler tries the URL in the background (a short GET a few
	// times a second) from the moment it is provisioned, and as soon as it
	// answers (any response but a server error) logs one Info line, "demo
	// ready: open <url>", with the fields "url" and "accounts": each demo user's
	// name, password, role and what the account shows in the demo. It never
	// delays the start, and stops trying when the config is unloaded.
	// Placeholders such as {env.*} are replaced. Default: no announcement.
	Announce string `json:"announce,omitempty"`

	// NoticeSecret is the secret of the gateway's webhook notifier
	// (stepup.notify.webhook) that sends security notices to this console. When set,
	// the console takes notices at POST /demo/notices, only when their signature
	// verifies with it, and serves GET /notices, a page listing the latest, with no
	// sign-in needed (development only), linked from the login page. Placeholders such
	// as {env.*} are replaced.
	NoticeSecret string `json:"notice_secret,omitempty"`

	console   *Console
	holding   bool       // whether this handler holds a reference in states
	announcer *announcer // running while Announce waits for its URL
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.democonsole",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision attaches the handler to the process-wide console state and, with
// Announce set, starts waiting for the URL in the background.
func (h *Handler) Provision(ctx caddy.Context) error {
	return h.provision(ctx, ctx.Logger())
}

// provision is Provision with the logger given, for tests. ctx bounds the
// announcer, as Cleanup does.
func (h *Handler) provision(ctx context.Context, logger *zap.Logger) error {
	repl := caddy.NewReplacer()
	announce := repl.ReplaceKnown(h.Announce, "")
	if announce != "" {
		if err := checkAnnounceURL(announce); err != nil {
			return err
		}
	}
	secret := repl.ReplaceKnown(h.NoticeSecret, "")
	if secret == "" && h.NoticeSecret != "" {
		return fmt.Errorf("democonsole: notices: the secret %s is empty (is the variable set?)", h.NoticeSecret)
	}
	val, _, err := states.LoadOrNew(stateKey, func() (caddy.Destructor, error) {
		return newState(), nil
	})
	if err != nil {
		return err
	}
	h.holding = true
	outbox := repl.ReplaceKnown(h.Outbox, "")
	h.console = newConsole(h.Title, outbox, val.(*state))
	if secret != "" {
		h.console.withNotices([]byte(secret))
	}
	if announce != "" {
		h.announcer = startAnnouncer(ctx, announce, logger, DemoUsers(), announceInterval)
	}
	return nil
}

// Cleanup stops the announcer, if any, and releases the handler's reference
// to the console state.
func (h *Handler) Cleanup() error {
	if h.announcer != nil {
		h.announcer.stop()
		h.announcer = nil
	}
	if !h.holding {
		return nil
	}
	h.holding = false
	_, err := states.Delete(stateKey)
	return err
}

// ServeHTTP serves the request from the console.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.console.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	democonsole [<matcher>] {
//	    title    <text>
//	    outbox   <path>
//	    announce <url>
//	    notices  <secret>
//	}
//
// The block is optional. outbox names the outbox file of the gateway's "log" SMS
// provider, shown at /outbox (development only). announce is the URL to open (the
// gateway's site): once it answers, the log says so, with the demo accounts. notices
// is the secret of the gateway's webhook notifier that posts security notices to
// /demo/notices; they are shown at /notices (development only). The directive is
// ordered before reverse_proxy, so no "order" option is needed.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.Errf("democonsole: expected no argument on the directive's line (options go in its block), got %q", d.Val())
	}
	for d.NextBlock(0) {
		option := d.Val()
		switch option {
		case "title":
			v, err := oneArg(d, option, `a console name, e.g. title "Acme Cloud"`)
			if err != nil {
				return err
			}
			h.Title = v
		case "outbox":
			v, err := oneArg(d, option, "the gateway's SMS outbox file, e.g. outbox /tmp/sms-outbox.jsonl")
			if err != nil {
				return err
			}
			h.Outbox = v
		case "announce":
			v, err := oneArg(d, option, "the URL to open, e.g. announce http://localhost:8080")
			if err != nil {
				return err
			}
			// A placeholder such as {env.*} is checked once replaced, at provisioning.
			if !strings.Contains(v, "{") {
				if err := checkAnnounceURL(v); err != nil {
					return d.Errf("%v", err)
				}
			}
			h.Announce = v
		case "notices":
			v, err := oneArg(d, option, "the secret of the gateway's webhook notifier, e.g. notices {env.STEPUP_NOTIFY_SECRET}")
			if err != nil {
				return err
			}
			h.NoticeSecret = v
		default:
			return d.Errf("unrecognized democonsole option %q (expected title, outbox, announce or notices)", option)
		}
	}
	return nil
}

// oneArg returns the single argument of option, or an error saying what was
// expected.
func oneArg(d *caddyfile.Dispenser, option, expected string) (string, error) {
	if !d.NextArg() {
		return "", d.Errf("%s: expected %s", option, expected)
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s: expected one argument, %s; got also %q", option, expected, d.Val())
	}
	return v, nil
}

// parseCaddyfile builds the handler from the "democonsole" directive.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards.
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
	_ caddy.Destructor            = (*state)(nil)
)
