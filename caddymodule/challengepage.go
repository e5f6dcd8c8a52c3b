package caddymodule

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/web"
)

// pageState is what a challenge page shows besides the challenge itself.
type pageState struct {
	Status    int
	Error     string
	Notice    string
	SMSForm   bool                // a code for the challenge went out: show its form
	PhoneSent *challenge.SentCode // a code to a phone being bound just went out
	Number    string              // the number the user typed, shown again after an error
}

// showChallenge renders the challenge page with a form for every method the
// challenge offers and the user has bound; when none is bound, the binding page
// (binding passes the challenge). SMS goes out only when the user asks.
func (h *Handler) showChallenge(w http.ResponseWriter, r *http.Request, id string, st pageState) error {
	ch, err := h.findChallenge(r, id)
	if err != nil {
		return h.challengeFailure(w, r, id, err)
	}
	f, err := h.challenges.Factors(r.Context(), ch.User)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if st.Status == 0 {
		st.Status = http.StatusOK
	}
	data := map[string]any{
		"Title": "Confirm it's you", "Issuer": h.Issuer, "User": ch.User, "Rule": ch.Rule,
		"Purpose": ch.Purpose, "Error": st.Error, "Notice": st.Notice, "Action": h.challengeURL(id),
		"CSRF": h.csrfToken(ch.Binding, "challenge:"+id),
	}
	if ch.Purpose == policy.PurposeLogin {
		data["Title"] = "Confirm your sign-in"
		data["Rule"] = ""
	}
	offers := func(m policy.Method) bool { return slices.Contains(ch.Methods, m) }
	totp := offers(policy.TOTP) && f.TOTP != nil
	sms := offers(policy.SMS) && f.Phone != nil && h.sms != nil
	if totp || sms {
		data["TOTP"], data["SMS"], data["SMSSent"] = totp, sms, st.SMSForm
		if f.Phone != nil {
			data["Phone"] = f.Phone.Masked
		}
		return web.Render(w, st.Status, "challenge.html", data)
	}

	totpBind := offers(policy.TOTP) && f.TOTP == nil
	phoneBind := offers(policy.SMS) && h.sms != nil
	if !totpBind && !phoneBind {
		h.logger.Error("challenge offers no method that can be passed or bound", zap.String("user", ch.User), zap.Strings("methods", methodNames(ch.Methods)))
		return h.message(w, http.StatusConflict, "Second factor not available", "None of the second factors this needs can be used here. Please contact the administrator.", "/", "Back to the console")
	}
	data["Title"] = "Bind a second factor"
	data["TOTPBind"], data["PhoneBind"], data["Number"] = totpBind, phoneBind, st.Number
	if st.PhoneSent != nil {
		data["PhoneSent"], data["PhoneTo"] = true, st.PhoneSent.To
	}
	if totpBind {
		enr, err := h.challenges.StartTOTPBinding(r.Context(), id, ch.Binding)
		if err != nil {
			return h.challengeFailure(w, r, id, err)
		}
		data["Secret"] = enr.Secret
		data["QR"] = dataURL(enr.QRPNG)
	}
	return web.Render(w, st.Status, "bind.html", data)
}

// dataURL inlines a PNG, so the secret inside the QR code never travels in a URL.
func dataURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// challengeForm parses a challenge page's form and checks it came from that page.
// ok is false when a response has been written.
func (h *Handler) challengeForm(w http.ResponseWriter, r *http.Request, id string) (challenge.Challenge, bool, error) {
	if err := r.ParseForm(); err != nil {
		return challenge.Challenge{}, false, caddyhttp.Error(http.StatusBadRequest, err)
	}
	ch, err := h.findChallenge(r, id)
	if err != nil {
		return ch, false, h.challengeFailure(w, r, id, err)
	}
	if !h.checkCSRF(r, ch.Binding, "challenge:"+id) {
		h.logger.Warn("challenge form refused: bad CSRF token or cross-site", zap.String("user", ch.User), zap.String("challenge", id), zap.String("client_ip", clientIP(r)))
		return ch, false, h.refused(w)
	}
	return ch, true, nil
}

// submitChallenge checks an answer: an authenticator code, an SMS code, or on the
// binding page two consecutive authenticator codes or the code sent to a new phone.
func (h *Handler) submitChallenge(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, id string) error {
	ch, ok, err := h.challengeForm(w, r, id)
	if !ok {
		return err
	}
	var passed challenge.Passed
	ip := clientIP(r)
	switch {
	case r.PostForm.Has("code1"):
		passed, err = h.challenges.ConfirmTOTPBinding(r.Context(), id, ch.Binding, r.PostFormValue("code1"), r.PostFormValue("code2"), ip)
	case r.PostForm.Has("phone_code"):
		passed, err = h.challenges.ConfirmPhoneBinding(r.Context(), id, ch.Binding, r.PostFormValue("phone_code"), ip)
	case r.PostFormValue("method") == string(policy.SMS):
		passed, err = h.challenges.VerifySMS(r.Context(), id, ch.Binding, r.PostFormValue("code"), ip)
	default:
		passed, err = h.challenges.VerifyTOTP(r.Context(), id, ch.Binding, r.PostFormValue("code"), ip)
	}
	if err != nil {
		f, known := describe(err)
		if !known {
			return h.unavailable(w, r, err)
		}
		h.logFailure(r, caller{User: ch.User}, id, err)
		if f.Status == http.StatusUnauthorized {
			st := pageState{Error: f.Text, Status: f.Status}
			if r.PostFormValue("method") == string(policy.SMS) {
				st.SMSForm = true // keep the SMS code form on the page
			}
			return h.showChallenge(w, r, id, st)
		}
		return h.pageFailure(w, r, caller{User: ch.User}, id, err)
	}
	return h.passed(w, r, next, passed)
}

// sendChallengeSMS sends a code for the challenge, when the user asks for one.
func (h *Handler) sendChallengeSMS(w http.ResponseWriter, r *http.Request, id string) error {
	ch, ok, err := h.challengeForm(w, r, id)
	if !ok {
		return err
	}
	sent, err := h.challenges.SendSMSCode(r.Context(), id, ch.Binding, clientIP(r))
	if err != nil {
		return h.sendFailure(w, r, ch, err, pageState{SMSForm: true})
	}
	h.logger.Info("sms code sent", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", clientIP(r)))
	return h.showChallenge(w, r, id, pageState{SMSForm: true, Notice: "We sent a code to " + sent.To + ". It is valid until " + sent.Expires.UTC().Format("15:04 MST") + "."})
}

// startPhoneBinding sends a code to the number the user wants to bind.
func (h *Handler) startPhoneBinding(w http.ResponseWriter, r *http.Request, id string) error {
	ch, ok, err := h.challengeForm(w, r, id)
	if !ok {
		return err
	}
	sent, err := h.challenges.StartPhoneBinding(r.Context(), id, ch.Binding, r.PostFormValue("number"), clientIP(r))
	if err != nil {
		return h.sendFailure(w, r, ch, err, pageState{})
	}
	h.logger.Info("sms code sent to a phone being bound", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", clientIP(r)))
	return h.showChallenge(w, r, id, pageState{PhoneSent: &sent, Notice: "We sent a code to " + sent.To + "."})
}

// logSendFailure tells the operator why no code went out (a limit, a bad number, or
// the provider's own answer).
func (h *Handler) logSendFailure(r *http.Request, ch challenge.Challenge, err error) {
	h.logger.Warn("sms code not sent", zap.String("user", ch.User), zap.String("challenge", ch.ID),
		zap.String("reason", err.Error()), zap.String("client_ip", clientIP(r)))
}

// sendFailure shows why no code went out: a limit (and when to retry), a bad number,
// or the provider's failure (with the detail in the operator's log only).
func (h *Handler) sendFailure(w http.ResponseWriter, r *http.Request, ch challenge.Challenge, err error, st pageState) error {
	f, known := describe(err)
	if !known {
		return h.unavailable(w, r, err)
	}
	h.logSendFailure(r, ch, err)
	if !f.Until.IsZero() {
		retryAfter(w, f.Until)
	}
	st.Error, st.Status = f.Text, f.Status
	st.Number = r.PostFormValue("number")
	if f.Code == "challenge_ended" || f.Code == "forbidden" || f.Code == "locked" {
		return h.pageFailure(w, r, caller{User: ch.User}, ch.ID, err)
	}
	return h.showChallenge(w, r, ch.ID, st)
}
