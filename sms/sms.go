// Package sms sends the gateway's SMS codes through a provider. Providers are Caddy
// guest modules in the namespace "stepup.sms", chosen in the gateway's configuration:
//
//   - stepup.sms.webhook: a JSON POST to a URL of your own (a small relay to any SMS
//     service), with the rendered text and, beside it, the code, its purpose, its
//     language and its lifetime, so a relay can fill in a registered template instead;
//   - stepup.sms.twilio: the Twilio Messages REST API;
//   - stepup.sms.log: development only; writes the message, code included, to the
//     Caddy log and to a local outbox file instead of sending it.
//
// Each message is a challenge.CodeMessage: the text in the reader's language (English
// or Simplified Chinese, from the catalogs of package locale) and its parts. Mainland
// Chinese providers send only templates registered with them, under a registered
// signature ("【Name】"), and carry 70 Chinese characters a segment: the gateway's
// Chinese texts start with the issuer's name as a signature and fit one segment, and a
// relay in front of such a provider sends its own template with the code instead.
//
// A provider sends one message and reports whether it was accepted. It never retries:
// a message that may have gone out must not go out twice, and the caller's send limits
// decide when the user may ask again. Failures are *SendError values, which satisfy
// errors.Is(err, challenge.ErrSendFailed), the one error for a message not sent: show
// the user "could not send the code" and put the error, which carries the provider's
// answer, in the operator's log. No error holds a provider's credentials.
package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-stepup/stepup/challenge"
)

// Provider sends a message that carries a code to m.To, a phone number in E.164 form
// ("+15551234567"). Implementations are Caddy modules with IDs "stepup.sms.<name>".
// Send returns nil once the provider has accepted the message, and a *SendError
// otherwise.
type Provider interface {
	Send(ctx context.Context, m challenge.CodeMessage) error
}

// maxDetail bounds SendError.Detail, in bytes.
const maxDetail = 512

// maxResponse bounds how much of a provider's response body is read, in bytes.
const maxResponse = 4 << 10

// defaultTimeout is how long a provider request may take unless configured.
const defaultTimeout = 10 * time.Second

// userAgent is sent with every provider request.
const userAgent = "caddy-stepup-sms/1"

// SendError is a provider failure. Its text is for the operator's log: it names the
// provider, the HTTP status and the provider's answer, never a credential. Users get a
// generic "could not send the code".
type SendError struct {
	// Provider names the module that failed ("webhook", "twilio", "log").
	Provider string

	// Status is the HTTP status the provider answered with, or 0 if there was no answer
	// (a timeout, a refused connection).
	Status int

	// Detail is the provider's answer (its response body), truncated to about 512
	// bytes, for the operator's log only.
	Detail string

	// Err is the underlying error when there was no answer, or nil. It never holds the
	// request URL, which may carry a secret.
	Err error
}

// Error describes the failure for the operator's log.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("sms: ")
	b.WriteString(e.Provider)
	b.WriteString(": could not send the message")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": provider answered %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %q", e.Detail)
	}
	return b.String()
}

// Is makes errors.Is(err, challenge.ErrSendFailed) true.
func (e *SendError) Is(target error) bool { return target == challenge.ErrSendFailed }

// Unwrap returns the underlying error, if any.
func (e *SendError) Unwrap() error { return e.Err }

// newClient returns the HTTP client of a provider module: one per module, with the
// request timeout, never following redirects (a 3xx is a failure like any other
// non-2xx, and credentials are never sent on to another address).
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// do sends req once and returns nil for a status accepted by ok, or a *SendError with
// the provider's answer.
func do(client *http.Client, provider string, req *http.Request, ok func(status int) bool) error {
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the URL, which may carry a secret (a webhook URL with a key in
		// its query): keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &SendError{Provider: provider, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if ok(resp.StatusCode) {
		return nil // accepted; the rest of the body does not matter
	}
	se := &SendError{Provider: provider, Status: resp.StatusCode, Detail: truncate(string(body), maxDetail)}
	if err != nil {
		se.Err = fmt.Errorf("reading the answer: %w", err)
	}
	return se
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence, marking
// the cut.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// validURL checks that a provider URL is an absolute http or https URL. The error
// names the field but not the URL, which may carry a secret.
func validURL(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is empty (if it comes from a placeholder such as {env.*}, is that set?)", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL", field)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s must be an http or https URL", field)
	}
	if u.Host == "" {
		return fmt.Errorf("%s has no host", field)
	}
	return nil
}

// Every Provider is a challenge.SMSSender.
var _ challenge.SMSSender = Provider(nil)
