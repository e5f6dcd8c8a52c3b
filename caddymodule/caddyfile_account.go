package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseBindConsoleSession reads
//
//	bind_console_session [strict] {
//	    remember <duration>
//	}
//
// and returns the error to give if the rest of the block lacks what it needs (the
// login's success_cookie), made here so it names this line.
func (h *Handler) parseBindConsoleSession(d *caddyfile.Dispenser) (needsCookie error, err error) {
	h.BindConsoleSession = &ConsoleSessionConfig{}
	needsCookie = d.Err("bind_console_session needs the console's session cookie: set `success_cookie <name>` in the login block")
	switch args := d.RemainingArgs(); {
	case len(args) == 1 && args[0] == "strict":
		h.BindConsoleSession.Strict = true
	case len(args) > 0:
		return nil, d.Errf("expected `bind_console_session [strict]`, got %q", args)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "remember":
			err = duration(d, &h.BindConsoleSession.Remember)
		default:
			err = d.Errf("unknown bind_console_session subdirective %q (expected remember)", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return needsCookie, nil
}

// parseAnomaly reads
//
//	anomaly {
//	    new_device <weight>
//	    new_network <weight>
//	    recent_failures <weight> [<wrong codes>]
//	    threshold <score>
//	    log_only_until <date>
//	    remember_device <duration>
//	    remember_network <duration>
//	}
func (h *Handler) parseAnomaly(d *caddyfile.Dispenser) error {
	h.Anomaly = &AnomalyConfig{}
	if d.NextArg() {
		return d.ArgErr()
	}
	number := func(dst *int, what string) error {
		n, err := strconv.Atoi(d.Val())
		if err != nil || n < 0 {
			return d.Errf("%s: expected %s, got %q", d.Val(), what, d.Val())
		}
		*dst = n
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		var err error
		switch name {
		case "new_device", "new_network", "recent_failures":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 || (len(args) == 2 && name != "recent_failures") {
				if name == "recent_failures" {
					return d.Err("expected `recent_failures <weight> [<wrong codes>]`, e.g. `recent_failures 1 3`")
				}
				return d.Errf("expected `%s <weight>`, e.g. `%s 2` (0 turns it off)", name, name)
			}
			w, werr := strconv.Atoi(args[0])
			if werr != nil || w < 0 {
				return d.Errf("%s: expected a weight of 0 or more, got %q", name, args[0])
			}
			if h.Anomaly.Signals == nil {
				h.Anomaly.Signals = map[string]int{}
			}
			h.Anomaly.Signals[name] = w
			if len(args) == 2 {
				n, nerr := strconv.Atoi(args[1])
				if nerr != nil || n < 1 {
					return d.Errf("recent_failures: expected a number of wrong codes of 1 or more, got %q", args[1])
				}
				h.Anomaly.Failures = n
			}
		case "threshold":
			if !d.NextArg() {
				return d.Err("expected `threshold <score>`, e.g. `threshold 2`")
			}
			if err = number(&h.Anomaly.Threshold, "a score of 1 or more"); err == nil && h.Anomaly.Threshold < 1 {
				err = d.Errf("threshold: expected a score of 1 or more, got %q", d.Val())
			}
			if err == nil && d.NextArg() {
				err = d.ArgErr()
			}
		case "log_only_until":
			if err = oneArg(d, &h.Anomaly.LogOnlyUntil); err == nil {
				if _, perr := parseDate(h.Anomaly.LogOnlyUntil); perr != nil {
					err = d.Err(perr.Error())
				}
			}
		case "remember_device":
			err = duration(d, &h.Anomaly.RememberDevice)
		case "remember_network":
			err = duration(d, &h.Anomaly.RememberNetwork)
		default:
			err = d.Errf("unknown anomaly subdirective %q (expected new_device, new_network, recent_failures, threshold, log_only_until, remember_device or remember_network)", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
