package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/brand"
)

// parseBrand reads
//
//	brand {
//	    name <text>          # the product's name: header and browser tab
//	    logo <url>           # /static/logo.svg or https://...
//	    accent "<#hex>"      # buttons, links and focus outlines; in quotes
//	    support <url>        # "Need help?" in every page's footer; also mailto:
//	    stylesheet <url>     # the operator's CSS, after the built-in style
//	}
//
// Each value is checked on its own line, so a bad one fails at load with the file and
// line and what was expected.
func (h *Handler) parseBrand(d *caddyfile.Dispenser) error {
	if h.Brand != nil {
		return d.Err("brand is set twice: give every setting in one brand block")
	}
	if d.NextArg() {
		return d.Errf("expected `brand {` and a block of name, logo, accent, support and stylesheet, got %q", d.Val())
	}
	b := &brand.Brand{}
	h.Brand = b
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		var dst *string
		switch name {
		case "name":
			dst = &b.Name
		case "logo":
			dst = &b.Logo
		case "accent":
			dst = &b.Accent
		case "support":
			dst = &b.Support
		case "stylesheet":
			dst = &b.Stylesheet
		default:
			return d.Errf("unknown brand subdirective %q (expected name, logo, accent, support or stylesheet)", name)
		}
		if seen[name] {
			return d.Errf("brand %s is set twice", name)
		}
		seen[name] = true
		if name == "accent" && !d.NextArg() {
			// An unquoted #2457c5 starts a comment: the line looks empty.
			return d.Err(`accent needs a colour in quotes, e.g. accent "#2457c5" (an unquoted # starts a comment)`)
		} else if name == "accent" {
			d.Prev()
		}
		if err := oneArg(d, dst); err != nil {
			return err
		}
		if *dst == "" {
			return d.Errf("brand %s is empty: leave the line out for the default", name)
		}
		// The lines before passed: what fails now is this one.
		if err := b.Check(); err != nil {
			return d.Errf("brand %v", err)
		}
	}
	return nil
}
