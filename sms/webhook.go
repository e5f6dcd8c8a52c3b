package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-stepup/stepup/challenge"
)

func init() {
	caddy.RegisterModule(Webhook{})
}

// Webhook is the SMS provider "stepup.sms.webhook": it POSTs each message as JSON to a
// URL of your own, which passes it on to an SMS service. The body is
//
//	{
//	  "to": "+8613800138000",
//	  "message": "【Example Console】验证码 123456，用于登录，5 分钟内有效，请勿泄露给他人。",
//	  "code": "123456",
//	  "purpose": "login",
//	  "lang": "zh-Hans",
//	  "expires_in_seconds": 300
//	}
//
// with Content-Type application/json and the configured headers. message is the whole
// text in the reader's language, ready to send. Beside it:
//
//   - code is the code alone, six digits;
//   - purpose is what it is for: "login" (a sign-in to the console), "operation" (a
//     protected action), "bind" (a phone number being added; the message goes to it),
//     or "notice" (a security notice from `notify sms`: no code, and code and
//     expires_in_seconds are empty; a relay to a mainland provider needs a registered
//     template for it too);
//   - lang is the language of message, a BCP 47 tag: "en" or "zh-Hans";
//   - expires_in_seconds is how long the code is valid, in whole seconds (300 by
//     default; less when its challenge ends sooner). The gateway's own texts say it in
//     whole minutes, rounded down, and in seconds under a minute.
//
// Mainland Chinese providers send only templates registered with them, under a
// registered signature: a relay to one sends its template for purpose and lang with
// code (and the minutes) as the template's parameters, and ignores message.
//
// A 2xx answer means the message was accepted; anything else, a redirect included, is a
// failure whose answer goes to the log. Requests are never retried.
type Webhook struct {
	// URL receives the messages: an absolute http or https URL. Placeholders known at
	// provisioning time (such as {env.SMS_WEBHOOK_URL}) are replaced. Required.
	URL string `json:"url,omitempty"`

	// Headers are sent with every request, for example an authorization token:
	// {"Authorization": "Bearer {env.SMS_WEBHOOK_TOKEN}"}. Placeholders in the values are
	// replaced at provisioning time. Content-Type is always application/json.
	Headers map[string]string `json:"headers,omitempty"`

	// Timeout bounds each request, answer included. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	url     string      // URL with placeholders replaced
	headers http.Header // Headers with placeholders replaced
	client  *http.Client
}

// CaddyModule returns the Caddy module information.
func (Webhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.sms.webhook",
		New: func() caddy.Module { return new(Webhook) },
	}
}

// Provision replaces placeholders in the URL and header values and sets defaults.
func (w *Webhook) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	w.url = repl.ReplaceKnown(w.URL, "")
	w.headers = make(http.Header, len(w.Headers))
	for name, value := range w.Headers {
		w.headers.Set(name, repl.ReplaceKnown(value, ""))
	}
	if w.Timeout == 0 {
		w.Timeout = caddy.Duration(defaultTimeout)
	}
	w.client = newClient(time.Duration(w.Timeout))
	return nil
}

// Validate checks the provisioned configuration. Its errors never show the URL or a
// header value, which may hold secrets.
func (w *Webhook) Validate() error {
	if err := validURL("sms webhook: url", w.url); err != nil {
		return err
	}
	for name, value := range w.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("sms webhook: header name %q is not valid", name)
		}
		if !httpguts.ValidHeaderFieldValue(w.headers.Get(name)) {
			return fmt.Errorf("sms webhook: the value of header %s is not valid", name)
		}
		if value != "" && w.headers.Get(name) == "" {
			return fmt.Errorf("sms webhook: the value of header %s is empty after replacing placeholders (is the environment variable set?)", name)
		}
	}
	if w.Timeout < 0 {
		return fmt.Errorf("sms webhook: timeout must not be negative")
	}
	return nil
}

// webhookMessage is the JSON body of a webhook request (see Webhook).
type webhookMessage struct {
	To        string `json:"to"`
	Message   string `json:"message"`
	Code      string `json:"code"`
	Purpose   string `json:"purpose"`
	Lang      string `json:"lang"`
	ExpiresIn int64  `json:"expires_in_seconds"`
}

// Send POSTs the message to the URL once.
func (w *Webhook) Send(ctx context.Context, m challenge.CodeMessage) error {
	body, err := json.Marshal(webhookMessage{
		To: m.To, Message: m.Text, Code: m.Code, Purpose: string(m.Purpose), Lang: m.Lang,
		ExpiresIn: int64(m.ExpiresIn / time.Second),
	})
	if err != nil {
		return &SendError{Provider: "webhook", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &SendError{Provider: "webhook", Err: fmt.Errorf("building the request failed")}
	}
	for name, values := range w.headers {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", "application/json")
	return do(w.client, "webhook", req, func(status int) bool { return status >= 200 && status <= 299 })
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	webhook <url> {
//	    header  <name> <value>
//	    timeout <duration>
//	}
//
// The block is optional; header may be repeated. Values may use placeholders such as
// {env.SMS_WEBHOOK_TOKEN}, replaced when the configuration is loaded.
func (w *Webhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider name
	if !d.NextArg() {
		return d.Err("sms webhook needs a URL: webhook <url>")
	}
	w.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "header":
			var name, value string
			if !d.Args(&name, &value) {
				return d.Err("header needs a name and a value: header <name> <value>")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if w.Headers == nil {
				w.Headers = make(map[string]string)
			}
			w.Headers[name] = value
		case "timeout":
			dur, err := parseDuration(d)
			if err != nil {
				return err
			}
			w.Timeout = dur
		default:
			return d.Errf("unrecognized sms webhook option '%s'", d.Val())
		}
	}
	return nil
}

// parseDuration reads the single duration argument of the current option.
func parseDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil {
		return 0, d.Errf("bad duration '%s': %v", d.Val(), err)
	}
	if dur <= 0 {
		return 0, d.Errf("duration must be positive: %s", d.Val())
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return caddy.Duration(dur), nil
}

// Interface guards.
var (
	_ Provider              = (*Webhook)(nil)
	_ caddy.Module          = (*Webhook)(nil)
	_ caddy.Provisioner     = (*Webhook)(nil)
	_ caddy.Validator       = (*Webhook)(nil)
	_ caddyfile.Unmarshaler = (*Webhook)(nil)
)
