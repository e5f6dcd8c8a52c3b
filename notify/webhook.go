package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/token"
)

func init() {
	caddy.RegisterModule(Webhook{})
}

// SignatureHeader carries a webhook notice's signature.
const SignatureHeader = "X-Stepup-Signature"

// DefaultTolerance is how far a signature's time may be from the receiver's clock
// before Verify refuses it.
const DefaultTolerance = 5 * time.Minute

// Webhook defaults.
const (
	defaultTimeout  = 10 * time.Second
	defaultAttempts = 4
	defaultBackoff  = time.Second
	maxAttempts     = 10
)

// maxAnswer bounds how much of a receiver's answer is read, and maxDetail how much of
// it goes to the log, in bytes.
const (
	maxAnswer = 4 << 10
	maxDetail = 256
)

// Webhook is the notifier "stepup.notify.webhook": it POSTs each notice as JSON to a
// URL of your own (a relay to the operator's e-mail or chat system), signed with a
// shared secret. The body is the Notice:
//
//	{
//	  "id": "5f0c…",                  // random; the same on every retry
//	  "kind": "factor_bound",
//	  "user": "alice",
//	  "method": "totp",               // factor_bound, factor_removed, admin_reset
//	  "protection": "login",          // protection_off
//	  "actor": "alice",
//	  "time": "2026-12-02T10:32:00Z",
//	  "lang": "en",
//	  "text": "Demo Console: an authenticator app was set up for your account on 2 Dec 10:32 UTC. If this was not you, contact your administrator."
//	}
//
// with the header
//
//	X-Stepup-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>
//
// A receiver verifies it (Verify does): recompute the HMAC over the timestamp, a dot
// and the raw body bytes, compare in constant time, and refuse a timestamp more than a
// few minutes from its clock (DefaultTolerance) so a captured request cannot be
// replayed later; it keeps the ids it has seen for that long, so a retry of a notice it
// already took is not shown twice.
//
// A 2xx answer means the notice was taken. A network error, a 5xx or a 429 is retried
// after Backoff, then twice that, and so on (each wait between half and one and a half
// times that, at random, so many gateways do not retry at once), up to Attempts in all;
// any other answer, a redirect included, is a failure and is not retried.
type Webhook struct {
	// URL receives the notices: an absolute http or https URL. Placeholders known at
	// provisioning time (such as {env.STEPUP_NOTIFY_URL}) are replaced. Required.
	URL string `json:"url,omitempty"`

	// Secret signs every notice (X-Stepup-Signature): at least 32 random bytes, e.g.
	// {env.STEPUP_NOTIFY_SECRET} set from `openssl rand -base64 32`, checked at load
	// like the signing key. The receiver holds the same secret. Required.
	Secret string `json:"secret,omitempty"`

	// Timeout bounds each attempt, answer included. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Attempts is how many times a notice is tried in all, 1 to 10. Default 4.
	Attempts int `json:"attempts,omitempty"`

	// Backoff is the wait before the first retry; each later wait doubles. Default 1s:
	// with 4 attempts, retries after about 1s, 2s and 4s.
	Backoff caddy.Duration `json:"backoff,omitempty"`

	url    string // URL with placeholders replaced
	secret []byte // Secret with placeholders replaced
	client *http.Client
	now    func() time.Time
	jitter func() float64 // in [0, 1)
}

// CaddyModule returns the Caddy module information.
func (Webhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.notify.webhook",
		New: func() caddy.Module { return new(Webhook) },
	}
}

// Provision replaces placeholders in the URL and the secret and sets the defaults.
func (w *Webhook) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	w.url = repl.ReplaceKnown(w.URL, "")
	w.secret = []byte(expandSecret(w.Secret))
	if w.Timeout == 0 {
		w.Timeout = caddy.Duration(defaultTimeout)
	}
	if w.Attempts == 0 {
		w.Attempts = defaultAttempts
	}
	if w.Backoff == 0 {
		w.Backoff = caddy.Duration(defaultBackoff)
	}
	w.client = &http.Client{
		Timeout: time.Duration(w.Timeout),
		// A redirect is a failure: the signed notice goes nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	w.now = time.Now
	w.jitter = rand.Float64
	return nil
}

// Validate checks the provisioned configuration. Its errors never show the URL or the
// secret.
func (w *Webhook) Validate() error {
	if err := checkURL(w.url); err != nil {
		return err
	}
	if err := checkSecret(w.Secret, w.secret); err != nil {
		return err
	}
	if w.Timeout < 0 || w.Backoff < 0 {
		return errors.New("notify webhook: timeout and backoff must be positive")
	}
	if w.Attempts < 1 || w.Attempts > maxAttempts {
		return fmt.Errorf("notify webhook: attempts must be 1 to %d, got %d", maxAttempts, w.Attempts)
	}
	return nil
}

// Notify POSTs n, signed, and retries as the type's documentation says.
func (w *Webhook) Notify(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("notify webhook: %w", err)
	}
	wait := time.Duration(w.Backoff)
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.Attempts || ctx.Err() != nil {
			return fmt.Errorf("notify webhook: attempt %d of %d: %w", attempt, w.Attempts, err)
		}
		t := time.NewTimer(time.Duration(float64(wait) * (0.5 + w.jitter())))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("notify webhook: attempt %d of %d: %w; stopped before retrying: %w", attempt, w.Attempts, err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// post sends body once, signed now, and says whether a failure may be retried.
func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("building the request failed")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "caddy-stepup-notify/1")
	req.Header.Set(SignatureHeader, Sign(w.secret, body, w.now()))
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error names the URL, which may carry a secret: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return false, nil
	}
	err = fmt.Errorf("the receiver answered %d %s: %q", resp.StatusCode, http.StatusText(resp.StatusCode), truncate(string(answer), maxDetail))
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}

// Sign returns the X-Stepup-Signature value of body sent at t: "t=<unix seconds>,
// v1=<hex HMAC-SHA256 of "<t>.<body>">".
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrBadSignature is Verify's answer to a notice whose signature does not hold.
var ErrBadSignature = errors.New("notify: the notice's signature does not verify")

// Verify checks a webhook notice as a receiver would: header is its
// X-Stepup-Signature, body the raw request body, secret the shared secret. The
// signature must be over this body and a time within tolerance of now (0 means
// DefaultTolerance). Several v1 values (while a secret is being replaced) pass when one
// matches.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: expected t=<unix seconds>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: its time is %v from this clock, more than %v", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// expandSecret resolves {env.*} and {file.*} placeholders in a configured secret and
// drops one trailing line break, as the gateway's keys are read.
func expandSecret(configured string) string {
	val := caddy.NewReplacer().ReplaceKnown(configured, "")
	val = strings.TrimSuffix(val, "\n")
	return strings.TrimSuffix(val, "\r")
}

// checkSecret checks an expanded secret like a signing key. The error names the
// placeholder, never the secret.
func checkSecret(configured string, secret []byte) error {
	if configured == "" {
		return errors.New("notify webhook: a secret is required to sign the notices: at least 32 random bytes, e.g. secret {env.STEPUP_NOTIFY_SECRET} set from `openssl rand -base64 32`")
	}
	if len(secret) == 0 {
		return fmt.Errorf("notify webhook: secret %s is empty (is the variable set?)", configured)
	}
	if err := token.CheckHMACKey(secret); err != nil {
		return fmt.Errorf("notify webhook: %s", strings.Replace(err.Error(), "token: signing key", "the secret", 1))
	}
	return nil
}

// checkURL checks that the URL is an absolute http or https URL, without showing it.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("notify webhook: the URL is empty (if it comes from a placeholder such as {env.*}, is that set?)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("notify webhook: the URL must be an absolute http or https URL")
	}
	return nil
}

// truncate shortens s to about n bytes for the log.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// UnmarshalCaddyfile sets up the notifier from Caddyfile tokens. Syntax:
//
//	webhook <url> {
//	    secret   <secret>
//	    timeout  <duration>
//	    attempts <n>
//	    backoff  <duration>
//	}
//
// secret is required, and checked here, like the gateway's keys: take it from a
// placeholder such as {env.STEPUP_NOTIFY_SECRET}.
func (w *Webhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the notifier's name
	if !d.NextArg() {
		return d.Err("notify webhook needs a URL: `notify webhook <url> { secret <secret> }`")
	}
	w.URL = d.Val()
	if d.NextArg() {
		return d.Errf("notify webhook takes one URL, got also %q", d.Val())
	}
	for d.NextBlock(0) {
		option := d.Val()
		switch option {
		case "secret":
			if !d.NextArg() {
				return d.Err("secret needs a value: at least 32 random bytes, e.g. secret {env.STEPUP_NOTIFY_SECRET}")
			}
			w.Secret = d.Val()
			if d.NextArg() {
				return d.Err("secret takes one value, got more")
			}
			if err := checkSecret(w.Secret, []byte(expandSecret(w.Secret))); err != nil {
				return d.Err(err.Error())
			}
		case "timeout", "backoff":
			dur, err := positiveDuration(d)
			if err != nil {
				return err
			}
			if option == "timeout" {
				w.Timeout = dur
			} else {
				w.Backoff = dur
			}
		case "attempts":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			if n < 1 || n > maxAttempts {
				return d.Errf("attempts: expected 1 to %d, got %d", maxAttempts, n)
			}
			w.Attempts = n
		default:
			return d.Errf("unknown notify webhook option %q (expected secret, timeout, attempts or backoff)", option)
		}
	}
	if w.Secret == "" {
		return d.Err("notify webhook needs `secret <secret>` in its block: at least 32 random bytes, e.g. secret {env.STEPUP_NOTIFY_SECRET}")
	}
	return nil
}

// positiveDuration reads the single duration argument of the current option.
func positiveDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.Errf("%s needs a duration such as 5s", name)
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: expected a positive duration such as 5s, got %q", name, d.Val())
	}
	if d.NextArg() {
		return 0, d.Errf("%s takes one value, got more", name)
	}
	return caddy.Duration(dur), nil
}

// intArg reads the single whole-number argument of the current option.
func intArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.Errf("%s needs a number", name)
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil {
		return 0, d.Errf("%s: expected a whole number, got %q", name, d.Val())
	}
	if d.NextArg() {
		return 0, d.Errf("%s takes one value, got more", name)
	}
	return n, nil
}

// Interface guards.
var (
	_ Notifier              = (*Webhook)(nil)
	_ caddy.Module          = (*Webhook)(nil)
	_ caddy.Provisioner     = (*Webhook)(nil)
	_ caddy.Validator       = (*Webhook)(nil)
	_ caddyfile.Unmarshaler = (*Webhook)(nil)
)
