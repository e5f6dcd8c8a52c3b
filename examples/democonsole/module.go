package democonsole

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

	console *Console
	holding bool // whether this handler holds a reference in states
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.democonsole",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision attaches the handler to the process-wide console state.
func (h *Handler) Provision(caddy.Context) error {
	val, _, err := states.LoadOrNew(stateKey, func() (caddy.Destructor, error) {
		return newState(), nil
	})
	if err != nil {
		return err
	}
	h.holding = true
	outbox := caddy.NewReplacer().ReplaceKnown(h.Outbox, "")
	h.console = newConsole(h.Title, outbox, val.(*state))
	return nil
}

// Cleanup releases the handler's reference to the console state.
func (h *Handler) Cleanup() error {
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
//	    title  <text>
//	    outbox <path>
//	}
//
// The block is optional. outbox names the outbox file of the gateway's "log" SMS
// provider, shown at /outbox (development only). The directive is ordered before reverse_proxy, so
// no "order" option is needed.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "title":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Title = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "outbox":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Outbox = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized democonsole option '%s'", d.Val())
		}
	}
	return nil
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
