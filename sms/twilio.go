package sms

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/challenge"
)

func init() {
	caddy.RegisterModule(Twilio{})
}

// defaultTwilioBase is the Twilio REST API.
const defaultTwilioBase = "https://api.twilio.com"

// Twilio is the SMS provider "stepup.sms.twilio": it sends each message with the
// Twilio Messages API (POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json,
// HTTP Basic authentication with the account SID and auth token, a form body with To,
// Body and From or MessagingServiceSid). A 200 or 201 answer means Twilio accepted the
// message; anything else is a failure whose answer (Twilio's JSON error, with its
// error code) goes to the log. Requests are never retried.
type Twilio struct {
	// AccountSID is the Twilio account SID ("AC…"), usually {env.TWILIO_ACCOUNT_SID}.
	// Required.
	AccountSID string `json:"account_sid,omitempty"`

	// AuthToken is the account's auth token, usually {env.TWILIO_AUTH_TOKEN}. It is
	// sent only as the Basic authentication password and never appears in errors or
	// logs. Required.
	AuthToken string `json:"auth_token,omitempty"`

	// From is the sending phone number in E.164 form. Exactly one of From and
	// MessagingServiceSID is required.
	From string `json:"from,omitempty"`

	// MessagingServiceSID is the Twilio Messaging Service ("MG…") to send through,
	// instead of From.
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`

	// BaseURL is the API's address, overridable for tests or a regional edge.
	// Default: https://api.twilio.com.
	BaseURL string `json:"base_url,omitempty"`

	// Timeout bounds each request, answer included. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Values with placeholders replaced.
	accountSID, authToken, from, serviceSID, baseURL string
	client                                           *http.Client
}

// CaddyModule returns the Caddy module information.
func (Twilio) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.sms.twilio",
		New: func() caddy.Module { return new(Twilio) },
	}
}

// Provision replaces placeholders in every field and sets defaults.
func (t *Twilio) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	t.accountSID = repl.ReplaceKnown(t.AccountSID, "")
	t.authToken = repl.ReplaceKnown(t.AuthToken, "")
	t.from = repl.ReplaceKnown(t.From, "")
	t.serviceSID = repl.ReplaceKnown(t.MessagingServiceSID, "")
	t.baseURL = strings.TrimRight(repl.ReplaceKnown(t.BaseURL, ""), "/")
	if t.baseURL == "" {
		t.baseURL = defaultTwilioBase
	}
	if t.Timeout == 0 {
		t.Timeout = caddy.Duration(defaultTimeout)
	}
	t.client = newClient(time.Duration(t.Timeout))
	return nil
}

// Validate checks the provisioned configuration. Its errors never show the auth token.
func (t *Twilio) Validate() error {
	const unset = " (if it comes from a placeholder such as {env.*}, is that set?)"
	switch {
	case t.accountSID == "":
		return errors.New("sms twilio: account_sid is empty" + unset)
	case !alnum(t.accountSID):
		return errors.New("sms twilio: account_sid must be letters and digits only (an \"AC…\" SID)")
	case t.authToken == "":
		return errors.New("sms twilio: auth_token is empty" + unset)
	case t.from == "" && t.serviceSID == "":
		return errors.New("sms twilio: one of from and messaging_service_sid is required" + unset)
	case t.from != "" && t.serviceSID != "":
		return errors.New("sms twilio: from and messaging_service_sid exclude each other; set only one")
	case t.Timeout < 0:
		return errors.New("sms twilio: timeout must not be negative")
	}
	return validURL("sms twilio: base_url", t.baseURL)
}

// Send creates one message with the Twilio Messages API, m.Text as its body.
func (t *Twilio) Send(ctx context.Context, m challenge.CodeMessage) error {
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if t.serviceSID != "" {
		form.Set("MessagingServiceSid", t.serviceSID)
	} else {
		form.Set("From", t.from)
	}
	endpoint := t.baseURL + "/2010-04-01/Accounts/" + url.PathEscape(t.accountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return &SendError{Provider: "twilio", Err: errors.New("building the request failed")}
	}
	req.SetBasicAuth(t.accountSID, t.authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return do(t.client, "twilio", req, func(status int) bool {
		return status == http.StatusCreated || status == http.StatusOK
	})
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	twilio {
//	    account_sid           <sid>
//	    auth_token            <token>
//	    from                  <e164 number>
//	    messaging_service_sid <sid>
//	    base_url              <url>
//	    timeout               <duration>
//	}
//
// account_sid, auth_token and one of from or messaging_service_sid are required.
// Keep the SID and token out of the file with placeholders:
// account_sid {env.TWILIO_ACCOUNT_SID}, auth_token {env.TWILIO_AUTH_TOKEN}.
func (t *Twilio) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var field *string
		switch opt {
		case "account_sid":
			field = &t.AccountSID
		case "auth_token":
			field = &t.AuthToken
		case "from":
			if t.MessagingServiceSID != "" {
				return d.Err("sms twilio: from and messaging_service_sid exclude each other; set only one")
			}
			field = &t.From
		case "messaging_service_sid":
			if t.From != "" {
				return d.Err("sms twilio: from and messaging_service_sid exclude each other; set only one")
			}
			field = &t.MessagingServiceSID
		case "base_url":
			field = &t.BaseURL
		case "timeout":
			dur, err := parseDuration(d)
			if err != nil {
				return err
			}
			t.Timeout = dur
			continue
		default:
			return d.Errf("unrecognized sms twilio option '%s'", opt)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		if *field != "" {
			return d.Errf("sms twilio: %s given twice", opt)
		}
		*field = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if t.AccountSID == "" || t.AuthToken == "" {
		return d.Err("sms twilio needs account_sid and auth_token")
	}
	if t.From == "" && t.MessagingServiceSID == "" {
		return d.Err("sms twilio needs from or messaging_service_sid")
	}
	return nil
}

// alnum reports whether s is ASCII letters and digits only.
func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Interface guards.
var (
	_ Provider              = (*Twilio)(nil)
	_ caddy.Module          = (*Twilio)(nil)
	_ caddy.Provisioner     = (*Twilio)(nil)
	_ caddy.Validator       = (*Twilio)(nil)
	_ caddyfile.Unmarshaler = (*Twilio)(nil)
)
