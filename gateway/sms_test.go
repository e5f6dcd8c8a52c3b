package gateway

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const phone = "+442079460123"

// bindPhone binds a phone for a user with nothing bound, through the settings page.
func (c *client) bindPhone(relay *smsOutbox) {
	t := c.g.t
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	start := c.page("POST", "/.stepup/phone/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := start.Header.Get("Location")
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="phone-form"`) {
		t.Fatalf("phone binding page expected: %d %s", page.StatusCode, page.Body)
	}
	csrf := match(t, csrfRE, page.Body)
	bad := c.submit(loc+"/phone", url.Values{"csrf": {csrf}, "number": {"020 7946 0123"}})
	if bad.Posted != http.StatusSeeOther || !strings.Contains(bad.Body, "international format") || !strings.Contains(bad.Body, `value="020 7946 0123"`) {
		t.Fatalf("a number without a country code: %d %s", bad.StatusCode, bad.Body)
	}
	sent := c.submit(loc+"/phone", url.Values{"csrf": {csrf}, "number": {"+44 20 7946 0123"}})
	if sent.StatusCode != http.StatusOK || !strings.Contains(sent.Body, `id="phone-code"`) {
		t.Fatalf("send to the new phone: %d %s", sent.StatusCode, sent.Body)
	}
	done := c.page("POST", loc, url.Values{"csrf": {csrf}, "phone_code": {relay.lastCode(t, phone)}})
	if done.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm the phone: %d %s", done.StatusCode, done.Body)
	}
	c.jar.SetCookies(mustURL(c.g.srv.URL), []*http.Cookie{{Name: tokenCookie, Value: "", MaxAge: -1}})
}

func TestOperationChallengeWithSMS(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay))
	c := g.client()
	c.login("alice")
	c.bindPhone(relay)
	settings := c.page("GET", "/.stepup/", nil)
	if !strings.Contains(settings.Body, "44 ••• ••• 0123, set up on") {
		t.Fatalf("settings should show the masked phone: %s", settings.Body)
	}

	r := c.page("GET", "/instances/i-1001/delete", nil)
	loc := r.Header.Get("Location")
	sentBefore := relay.count()
	page := c.page("GET", loc, nil)
	if relay.count() != sentBefore {
		t.Fatal("an SMS went out on page load")
	}
	if !strings.Contains(page.Body, `id="sms-send"`) || strings.Contains(page.Body, `id="challenge-form"`) {
		t.Fatalf("only SMS is bound: the page should offer it alone: %s", page.Body)
	}
	csrf := match(t, csrfRE, page.Body)
	sent := c.submit(loc+"/sms", url.Values{"csrf": {csrf}})
	if sent.StatusCode != http.StatusOK || !strings.Contains(sent.Body, `id="sms-code"`) || relay.count() != sentBefore+1 {
		t.Fatalf("send: %d, relay got %d", sent.StatusCode, relay.count()-sentBefore)
	}
	msg := relay.messages[len(relay.messages)-1].Text
	if !strings.Contains(msg, "Demo Console") || !regexp.MustCompile(`expires in [1-5] minutes`).MatchString(msg) {
		t.Errorf("message should name the issuer and lifetime: %q", msg)
	}
	again := c.submit(loc+"/sms", url.Values{"csrf": {csrf}})
	if again.Posted != http.StatusSeeOther || !strings.Contains(again.Body, "ask for a new code") || !strings.Contains(again.Body, `id="sms-code"`) || relay.count() != sentBefore+1 {
		t.Fatalf("resend within 60 s: %d %s", again.Posted, again.Body)
	}
	wrong := c.submit(loc, url.Values{"csrf": {csrf}, "method": {"sms"}, "code": {"000000"}})
	if wrong.Posted != http.StatusSeeOther || !strings.Contains(wrong.Body, "4 attempts left") || !strings.Contains(wrong.Body, `id="sms-code"`) {
		t.Fatalf("wrong SMS code: %d %s", wrong.Posted, wrong.Body)
	}
	ok := c.page("POST", loc, url.Values{"csrf": {csrf}, "method": {"sms"}, "code": {relay.lastCode(t, phone)}})
	if ok.StatusCode != http.StatusSeeOther || ok.Header.Get("Location") != "/instances/i-1001/delete" {
		t.Fatalf("right SMS code: %d %q %s", ok.StatusCode, ok.Header.Get("Location"), ok.Body)
	}
	claims, err := g.tokens.Parse("stepup+jwt", c.cookie(tokenCookie))
	if err != nil || claims.AMR[0] != "sms" {
		t.Fatalf("token amr: %+v %v", claims, err)
	}
}

func TestSMSOverTheAPI(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay))
	c := g.client()
	c.login("alice")
	c.bindPhone(relay)
	first := c.api("DELETE", "/api/instances/i-1001", nil)
	body := first.json(t)
	if m, _ := body["methods"].([]any); len(m) != 1 || m[0] != "sms" {
		t.Fatalf("methods on offer: %v", body["methods"])
	}
	id := body["challenge_id"].(string)
	send := c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{})
	if send.StatusCode != http.StatusOK || send.json(t)["sent_to"] != "+44 ••• ••• 0123" {
		t.Fatalf("send over the API: %d %s", send.StatusCode, send.Body)
	}
	if again := c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{}); again.StatusCode != http.StatusTooManyRequests || again.Header.Get("Retry-After") == "" {
		t.Fatalf("resend: %d", again.StatusCode)
	}
	v := c.api("POST", body["verify_url"].(string), map[string]string{"method": "sms", "code": relay.lastCode(t, phone)})
	if v.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d %s", v.StatusCode, v.Body)
	}
	if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("retry: %d", r.StatusCode)
	}
}

func TestEitherMethodPassesWhenBothAreBound(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay))
	c := g.client()
	c.login("alice")
	c.bindPhone(relay)
	// Binding an authenticator now needs a recent second factor first: the phone.
	settings := c.page("GET", "/.stepup/", nil)
	r := c.page("POST", "/.stepup/totp/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := r.Header.Get("Location")
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, "setting up an authenticator app") || !strings.Contains(page.Body, `id="sms-send"`) {
		t.Fatalf("binding a second factor while one is bound must ask for the bound one: %s", page.Body)
	}
	csrf := match(t, csrfRE, page.Body)
	c.page("POST", loc+"/sms", url.Values{"csrf": {csrf}})
	pass := c.page("POST", loc, url.Values{"csrf": {csrf}, "method": {"sms"}, "code": {relay.lastCode(t, phone)}})
	// The confirmed code goes straight on to setting up the app.
	if pass.Header.Get("Location") != "/.stepup/setup/totp" {
		t.Fatalf("on to setting up the app: %d %q", pass.StatusCode, pass.Header.Get("Location"))
	}
	secret := c.bindTOTP()

	first := c.api("DELETE", "/api/instances/i-1001", nil).json(t)
	if m, _ := first["methods"].([]any); len(m) != 2 {
		t.Fatalf("both methods should be offered: %v", first["methods"])
	}
	if v := c.api("POST", first["verify_url"].(string), map[string]string{"code": nextCode(secret, 1)}); v.StatusCode != http.StatusOK {
		t.Fatalf("TOTP when both are bound: %d %s", v.StatusCode, v.Body)
	}
	c.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: tokenCookie, Value: "", MaxAge: -1}})
	second := c.api("DELETE", "/api/instances/i-1002", nil).json(t)
	id := second["challenge_id"].(string)
	c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{})
	if v := c.api("POST", second["verify_url"].(string), map[string]string{"method": "sms", "code": relay.lastCode(t, phone)}); v.StatusCode != http.StatusOK {
		t.Fatalf("SMS when both are bound: %d %s", v.StatusCode, v.Body)
	}
}

func TestProviderFailureOffersTheOtherMethod(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay))
	c := g.client()
	c.login("alice")
	c.bindPhone(relay)
	relay.mu.Lock()
	relay.fail = true
	relay.mu.Unlock()
	loc := c.page("GET", "/instances/i-1001/delete", nil).Header.Get("Location")
	page := c.page("GET", loc, nil)
	r := c.submit(loc+"/sms", url.Values{"csrf": {match(t, csrfRE, page.Body)}})
	if r.Posted != http.StatusSeeOther || !strings.Contains(r.Body, "could not send the code") || strings.Contains(r.Body, "carrier") {
		t.Fatalf("provider failure: %d %s", r.StatusCode, r.Body)
	}
}

func TestLoginChallengeWithSMS(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay), loginFor("alice"))
	// First login: nothing bound; bind the phone on the binding page.
	c := g.client()
	loc := c.rawLogin("alice", "alice-password").Header.Get("Location")
	page := c.page("GET", loc, nil)
	csrf := match(t, csrfRE, page.Body)
	c.page("POST", loc+"/phone", url.Values{"csrf": {csrf}, "number": {phone}})
	assertReleased(t, g, c.page("POST", loc, url.Values{"csrf": {csrf}, "phone_code": {relay.lastCode(t, phone)}}), "alice")

	c2 := g.client()
	r := c2.rawLogin("alice", "alice-password")
	assertNothingOfTheConsole(t, r)
	loc = r.Header.Get("Location")
	page = c2.page("GET", loc, nil)
	csrf = match(t, csrfRE, page.Body)
	c2.page("POST", loc+"/sms", url.Values{"csrf": {csrf}})
	sess := assertReleased(t, g, c2.page("POST", loc, url.Values{"csrf": {csrf}, "method": {"sms"}, "code": {relay.lastCode(t, phone)}}), "alice")
	if sess.AMR[1] != "sms" {
		t.Fatalf("session amr %v", sess.AMR)
	}
}
