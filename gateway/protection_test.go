package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/policy"
)

// setProtection submits the settings page's form for one kind.
func (c *client) setProtection(kind policy.Kind, on bool, methods ...policy.Method) response {
	t := c.g.t
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	form := url.Values{"csrf": {match(t, csrfRE, settings.Body)}, "kind": {string(kind)}, "on": {"off"}}
	if on {
		form.Set("on", "on")
	}
	for _, m := range methods {
		form.Add("methods", string(m))
	}
	return c.page("POST", "/.stepup/protection", form)
}

// Turning operation protection off is lowering it: it takes a recent second factor,
// then a delete passes without a challenge.
func TestTurnOperationProtectionOff(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol")
	secret := c.bindTOTP()
	r := c.setProtection(policy.Operation, false)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("lowering without a recent second factor: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, "changes to your two-factor settings") {
		t.Fatalf("the challenge does not say what it confirms: %s", page.Body)
	}
	if p := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "code": {nextCode(secret, 1)}}); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/.stepup/" {
		t.Fatalf("step-up: %d %q", p.StatusCode, p.Header.Get("Location"))
	}
	r = c.setProtection(policy.Operation, false)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/.stepup/?saved=1" {
		t.Fatalf("after the step-up: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r = c.page("GET", "/.stepup/?saved=1", nil); !strings.Contains(r.Body, `id="settings-operation">off<`) || !strings.Contains(r.Body, "Last changed by carol") || !strings.Contains(r.Body, "saved") {
		t.Fatalf("settings after saving: %s", r.Body)
	}
	// A fresh browser of carol's, with no step-up token: the delete passes.
	d := g.client()
	d.login("carol")
	if r := d.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("delete with operation protection off: %d %s", r.StatusCode, r.Body)
	}
	// Turning it on again needs nothing.
	if r := d.setProtection(policy.Operation, true, policy.TOTP); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("turning it on: %d", r.StatusCode)
	}
	if r := d.api("DELETE", "/api/instances/i-1002", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("delete with operation protection on again: %d", r.StatusCode)
	}
}

// A mandate makes "off" unavailable: the page has no Off button, the form and the
// JSON API refuse it clearly, and nothing changes.
func TestMandateCannotBeTurnedOff(t *testing.T) {
	g := newGateway(t, withSettings(func(s *policy.Settings) {
		s.Mandates = map[policy.Kind]policy.Audience{policy.Operation: {All: true}}
	}))
	c := g.client()
	c.login("carol")
	settings := c.page("GET", "/.stepup/", nil)
	if strings.Contains(settings.Body, `id="operation-off"`) || !strings.Contains(settings.Body, `id="operation-mandated"`) {
		t.Fatalf("a mandated kind offers Off: %s", settings.Body)
	}
	if r := c.setProtection(policy.Operation, false); r.StatusCode != http.StatusSeeOther || !strings.Contains(c.submitFollow(r).Body, "cannot be turned off") {
		t.Fatalf("the form: %d %s", r.StatusCode, r.Body)
	}
	r := c.api("POST", "/.stepup/api/settings", map[string]any{"operation": map[string]any{"on": false}})
	if r.StatusCode != http.StatusForbidden || r.json(t)["error"] != "mandated" || !strings.Contains(r.json(t)["error_description"].(string), "requires") {
		t.Fatalf("the API: %d %s", r.StatusCode, r.Body)
	}
	st := c.api("GET", "/.stepup/api/settings", nil).json(t)
	if op := st["operation"].(map[string]any); op["on"] != true || op["mandated"] != true {
		t.Fatalf("settings after the refusals: %v", st)
	}
}

// Turning login protection on with nothing bound leads to binding first; the next
// console login is then held for the second factor.
func TestTurnLoginProtectionOnBindsFirst(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol")
	r := c.setProtection(policy.Login, true, policy.TOTP)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("login protection on with nothing bound: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="bind-qr"`) {
		t.Fatalf("the binding page is expected: %s", page.Body)
	}
	c.page("GET", "/logout", nil)
	held := g.client().rawLogin("carol", "carol-password")
	if held.StatusCode != http.StatusSeeOther || !strings.HasPrefix(held.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("carol's next login is not held: %d %v", held.StatusCode, held.Header)
	}
}

// The JSON API: the state, and lowering through an RFC 9470 step-up.
func TestSettingsAPI(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol")
	secret := c.bindTOTP()
	st := c.api("GET", "/.stepup/api/settings", nil).json(t)
	if st["user"] != "carol" || st["operation"].(map[string]any)["on"] != true || st["login"].(map[string]any)["on"] != false {
		t.Fatalf("state: %v", st)
	}
	r := c.api("POST", "/.stepup/api/settings", map[string]any{"operation": map[string]any{"on": false}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("lowering without a second factor: %d %s", r.StatusCode, r.Body)
	}
	v := c.api("POST", r.json(t)["verify_url"].(string), map[string]string{"code": nextCode(secret, 1)})
	if v.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d %s", v.StatusCode, v.Body)
	}
	r = c.api("POST", "/.stepup/api/settings", map[string]any{"operation": map[string]any{"on": false}})
	if r.StatusCode != http.StatusOK || r.json(t)["settings"].(map[string]any)["operation"].(map[string]any)["on"] != false {
		t.Fatalf("lowering after the step-up: %d %s", r.StatusCode, r.Body)
	}
	for _, bad := range []string{`{"x":{}}`, `{"login":{"on":true,"methods":["email"]}}`, `not json`} {
		if r := c.do("POST", "/.stepup/api/settings", strings.NewReader(bad), "Content-Type", "application/json", "Accept", "application/json"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, r.StatusCode, r.Body)
		}
	}
	// From another site: refused.
	if r := c.do("POST", "/.stepup/api/settings", strings.NewReader(`{"operation":{"on":true}}`), "Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %d", r.StatusCode)
	}
}

// Root's operation protection starts on with SMS first: the first sensitive
// operation offers the phone before the authenticator app. Without SMS, root falls
// back to the app.
func TestRootStartsWithSMS(t *testing.T) {
	outbox := &smsOutbox{}
	g := newGateway(t, withSMS(outbox), withRoles([]string{"alice"}, nil))
	c := g.client()
	c.login("alice")
	r := c.page("GET", "/instances/i-1001/delete", nil)
	page := c.page("GET", r.Header.Get("Location"), nil)
	phone, app := strings.Index(page.Body, `id="phone-form"`), strings.Index(page.Body, `id="bind-form"`)
	if phone < 0 || app < 0 || phone > app {
		t.Fatalf("root's binding page should offer the phone first (phone at %d, app at %d): %s", phone, app, page.Body)
	}
	st := c.api("GET", "/.stepup/api/settings", nil).json(t)
	if m := st["operation"].(map[string]any)["methods"].([]any); len(m) != 2 || m[0] != "sms" {
		t.Fatalf("root's operation methods: %v", m)
	}
	// carol, not root, starts with the app first.
	d := g.client()
	d.login("carol")
	p := d.page("GET", d.page("GET", "/instances/i-1001/delete", nil).Header.Get("Location"), nil)
	if strings.Index(p.Body, `id="phone-form"`) < strings.Index(p.Body, `id="bind-form"`) {
		t.Fatal("carol's binding page offers the phone first")
	}

	noSMS := newGateway(t, withRoles([]string{"alice"}, nil))
	a := noSMS.client()
	a.login("alice")
	p = a.page("GET", a.page("GET", "/instances/i-1001/delete", nil).Header.Get("Location"), nil)
	if !strings.Contains(p.Body, `id="bind-form"`) || strings.Contains(p.Body, `id="phone-form"`) {
		t.Fatalf("root without SMS: %s", p.Body)
	}
}
