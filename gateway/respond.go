package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/web"
)

// Responder is the one place that writes the gateway's answers: its pages, its JSON,
// RFC 9470 step-up challenges, and every *Error.
type Responder struct {
	issuer    string
	prefix    string
	loginPath string // where a browser signs in; "" when the gateway watches no login
	now       func() time.Time
	log       *zap.Logger
	events    Events
	clientIP  func(*http.Request) string
	lang      *locale.Lang // the operator's default language
	render    *web.Renderer
	cookies   cookies
}

// Error writes err: an *Error as a page for browsers (a sign-in as a redirect to the
// console's login) or JSON for API clients. Any other error is returned unwritten: it
// is the console's (from the next handler), for Caddy to answer.
func (rs *Responder) Error(w http.ResponseWriter, r *http.Request, err error) error {
	e, ok := AsError(err)
	if !ok {
		return err
	}
	if e.Code == CodeUnavailable || e.Code == CodeInternal {
		rs.events.StoreError()
		rs.log.Error("two-factor check could not run; request refused", zap.Error(e.Err), zap.Int("status", e.Status),
			zap.String("path", r.URL.Path), zap.String("client_ip", rs.clientIP(r)))
	}
	rs.RetryAfter(w, e)
	if e.Code == CodeStepUp && e.StepUp != nil {
		if wantsHTML(r) {
			http.Redirect(w, r, rs.challengeURL(e.StepUp.ID), http.StatusSeeOther)
			return nil
		}
		return rs.StepUpChallenge(w, *e.StepUp, policy.AdminMaxAge, e.Text, e.Bind)
	}
	if e.Code == CodeSignIn {
		if wantsHTML(r) && rs.loginPath != "" {
			http.Redirect(w, r, rs.loginPath, http.StatusSeeOther)
			return nil
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="Sign in first"`)
	}
	if !wantsHTML(r) {
		// error_description is for developers, in English; clients translate the code.
		body := map[string]any{"error": e.Code, "error_description": e.Text.english()}
		if e.Code == CodeInvalidCode {
			body["attempts_left"] = e.Left
		}
		if !e.Until.IsZero() {
			body["retry_at"] = e.Until.UTC().Format(time.RFC3339)
		}
		return rs.JSON(w, e.Status, body)
	}
	l := rs.langOf(r)
	return rs.Message(w, r, e.Status, e.Title.in(l), e.Text.in(l), e.Link, e.LinkText.in(l))
}

// RetryAfter sets Retry-After for an error that says when to try again: a store
// outage (5 s) or a limit.
func (rs *Responder) RetryAfter(w http.ResponseWriter, e *Error) {
	switch {
	case !e.Until.IsZero():
		secs := max(int(e.Until.Sub(rs.now()).Seconds())+1, 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	case e.Code == CodeUnavailable || e.Code == CodeInternal:
		w.Header().Set("Retry-After", "5")
	}
}

// JSON writes body as JSON, never cached.
func (rs *Responder) JSON(w http.ResponseWriter, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// Message renders a plain page with a title, a sentence and a link.
func (rs *Responder) Message(w http.ResponseWriter, r *http.Request, status int, title, text, link, linkText string) error {
	return rs.Page(w, r, status, "message.html", map[string]any{"Title": title, "Message": text, "Link": link, "LinkText": linkText})
}

// Page renders one of the gateway's pages in the reader's language; data gets the
// issuer, the prefix and the language switch.
func (rs *Responder) Page(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) error {
	lang := rs.langOf(r)
	data["Issuer"] = rs.issuer
	data["Prefix"] = rs.prefix
	if _, hidden := data["Languages"]; !hidden { // a page that shows something once has no switch
		data["Languages"] = rs.languages(r, lang)
	}
	return rs.render.Render(w, status, name, lang, data)
}

// StepUpChallenge answers an API client with an RFC 9470 step-up challenge: 401, a
// WWW-Authenticate header with insufficient_user_authentication and max_age, and a
// JSON body naming the challenge, the methods on offer and where to verify.
func (rs *Responder) StepUpChallenge(w http.ResponseWriter, ch challenge.Challenge, maxAge time.Duration, description words, bind bool) error {
	secs := int(maxAge / time.Second)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_user_authentication", error_description="A recent second factor is required", max_age="%d"`, secs))
	body := map[string]any{
		"error":             "insufficient_user_authentication",
		"error_description": description.english(),
		"challenge_id":      ch.ID,
		"methods":           ch.Methods,
		"verify_url":        rs.prefix + "/api/challenges/" + ch.ID + "/verify",
		"challenge_url":     rs.challengeURL(ch.ID),
		"max_age":           secs,
		"expires_at":        ch.Expires.UTC().Format(time.RFC3339),
	}
	if bind {
		body["error_description"] = say("api.bindFirst").english()
		body["bind_required"] = true
	}
	return rs.JSON(w, http.StatusUnauthorized, body)
}

func (rs *Responder) challengeURL(id string) string { return rs.prefix + "/challenge/" + id }

// loginPathOr is where a browser signs in, or def when the gateway watches no login.
func (rs *Responder) loginPathOr(def string) string {
	if rs.loginPath == "" {
		return def
	}
	return rs.loginPath
}
