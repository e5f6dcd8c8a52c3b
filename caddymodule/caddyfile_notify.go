package caddymodule

import (
	"bytes"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/notify"
)

// parseNotify reads one `notify` line: a notifier, `notify webhook <url> { … }` or
// `notify sms { … }` (each line adds one), or `notify limit <n> [<window>]`, the
// notices a user may get together.
func (h *Handler) parseNotify(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("notify needs a notifier: `notify webhook <url> { secret <secret> }` or `notify sms`, or `notify limit <n> [<window>]`")
	}
	if h.Notify == nil {
		h.Notify = &NotifyConfig{}
	}
	name := d.Val()
	if name == "limit" {
		if h.Notify.UserLimit != 0 {
			return d.Err("notify limit is set twice")
		}
		n, w, err := notify.ParseLimit(d, defaultNoticeWindow)
		if err != nil {
			return err
		}
		h.Notify.UserLimit, h.Notify.UserWindow = n, caddy.Duration(w)
		return nil
	}
	if _, err := caddy.GetModule("stepup.notify." + name); err != nil {
		return d.Errf("unknown notifier %q (expected webhook or sms, or `notify limit <n> [<window>]`)", name)
	}
	if name == "sms" {
		// A second one would text the user twice, sharing one limit.
		for _, raw := range h.Notify.NotifiersRaw {
			if bytes.Contains(raw, []byte(`"notifier":"sms"`)) {
				return d.Err("notify sms is set twice: one SMS notifier texts the bound phone; give its limit in one block")
			}
		}
	}
	unm, err := caddyfile.UnmarshalModule(d, "stepup.notify."+name)
	if err != nil {
		return err
	}
	h.Notify.NotifiersRaw = append(h.Notify.NotifiersRaw, caddyconfig.JSONModuleObject(unm, "notifier", name, nil))
	return nil
}
