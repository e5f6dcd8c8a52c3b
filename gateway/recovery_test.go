package gateway

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/policy"
)

var recoveryCodeRE = regexp.MustCompile(`<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>`)

// makeRecoveryCodes creates a set from the settings page with a fresh authenticator
// code, and returns the codes the one page shows.
// fresh says the client passed a second factor moments ago (no check comes first).
func (c *client) makeRecoveryCodes(secret []byte, step int, fresh ...bool) []string {
	t := c.g.t
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	r := c.page("POST", "/.stepup/recovery", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := r.Header.Get("Location")
	if strings.HasPrefix(loc, "/.stepup/recovery/") && len(fresh) > 0 && fresh[0] {
		return c.shownRecoveryCodes(loc) // a second factor passed moments ago
	}
	if !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("making codes without a recent factor should ask for one: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	if strings.Contains(page.Body, `id="recovery-form"`) {
		t.Fatal("the check before making codes offers a recovery code")
	}
	done := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "method": {"totp"}, "code": {nextCode(secret, step)}})
	if done.Header.Get("Location") != "/.stepup/?saved=recovery-ready" {
		t.Fatalf("after the check: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.Body)
	}
	settings = c.page("GET", "/.stepup/?saved=recovery-ready", nil)
	r = c.page("POST", "/.stepup/recovery", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	show := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(show, "/.stepup/recovery/") {
		t.Fatalf("making codes: %d %q", r.StatusCode, show)
	}
	return c.shownRecoveryCodes(show)
}

// shownRecoveryCodes reads the codes the page at show shows, once.
func (c *client) shownRecoveryCodes(show string) []string {
	t := c.g.t
	t.Helper()
	shown := c.page("GET", show, nil)
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(shown.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes shown: %s", len(codes), shown.Body)
	}
	if strings.Contains(shown.Body, `id="languages"`) {
		t.Fatal("the page that shows the codes once offers a language switch, which would load it again")
	}
	// Once: Reload finds them gone.
	if again := c.page("GET", show, nil); !strings.Contains(again.Body, `id="recovery-gone"`) || recoveryCodeRE.MatchString(again.Body) {
		t.Fatalf("the codes were shown twice: %s", again.Body)
	}
	return codes
}

// A recovery code passes a challenge once; its session may replace the app but not
// turn protection off or make new codes.
func TestRecoveryCodePassesOnceAndLimitsTheSession(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol")
	secret := c.bindTOTP()
	codes := c.makeRecoveryCodes(secret, 1)

	// A new browser, the phone lost: the delete's challenge takes a recovery code.
	lost := g.client()
	lost.login("carol")
	r := lost.page("GET", "/instances/i-1001/delete", nil)
	loc := r.Header.Get("Location")
	page := lost.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="recovery-form"`) {
		t.Fatalf("the challenge offers no recovery code: %s", page.Body)
	}
	done := lost.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "method": {"recovery"}, "code": {strings.ToUpper(codes[0])}})
	if done.StatusCode != http.StatusOK && done.StatusCode != http.StatusSeeOther {
		t.Fatalf("a recovery code: %d %s", done.StatusCode, done.Body)
	}
	if done.StatusCode == http.StatusSeeOther && strings.HasPrefix(done.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("a recovery code was refused: %s", lost.page("GET", done.Header.Get("Location"), nil).Body)
	}

	// Not twice.
	r = lost.page("GET", "/instances/i-1002/delete", nil)
	if r.StatusCode != http.StatusOK {
		// The step-up token from the recovery code covers the second delete; a new
		// browser's challenge tries the used code.
		t.Logf("second delete: %d", r.StatusCode)
	}
	other := g.client()
	other.login("carol")
	r = other.page("GET", "/instances/i-1003/delete", nil)
	loc2 := r.Header.Get("Location")
	page2 := other.page("GET", loc2, nil)
	again := other.submit(loc2, url.Values{"csrf": {match(t, csrfRE, page2.Body)}, "method": {"recovery"}, "code": {codes[0]}})
	if !strings.Contains(again.Body, "That recovery code was already used. Use another one.") || !strings.Contains(again.Body, `id="recovery" open`) {
		t.Fatalf("a used recovery code again: %d %s", again.StatusCode, again.Body)
	}

	// The settings of the session that used it: a warning, 9 left, the app replaceable.
	settings := lost.page("GET", "/.stepup/", nil)
	for _, want := range []string{`id="settings-recovery-warning"`, "9 codes left", `id="totp-replace"`} {
		if !strings.Contains(settings.Body, want) {
			t.Fatalf("settings after a recovery code lack %s: %s", want, settings.Body)
		}
	}
	// Turning protection off takes a real factor: a check that refuses recovery codes.
	off := lost.setProtection(policy.Operation, false)
	if l := off.Header.Get("Location"); !strings.HasPrefix(l, "/.stepup/challenge/") || strings.Contains(lost.page("GET", l, nil).Body, `id="recovery-form"`) {
		t.Fatalf("turning protection off with a recovery code: %d %q", off.StatusCode, l)
	}
	// So does making new codes.
	mk := lost.page("POST", "/.stepup/recovery", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	if l := mk.Header.Get("Location"); !strings.HasPrefix(l, "/.stepup/challenge/") {
		t.Fatalf("new codes with a recovery code: %d %q", mk.StatusCode, l)
	}
	// But a new app may be set up at once: the bind page, no check first.
	rep := lost.page("POST", "/.stepup/totp/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	bind := lost.page("GET", rep.Header.Get("Location"), nil)
	if !strings.Contains(bind.Body, `id="bind-secret"`) {
		t.Fatalf("replacing the app after a recovery code: %d %s", bind.StatusCode, bind.Body)
	}
	// The audit trail says a code was used, and how many are left.
	events := c.page("GET", "/.stepup/", nil)
	if !strings.Contains(events.Body, "Recovery code used") {
		t.Fatalf("the activity does not show the recovery code: %s", events.Body)
	}
}

// An administrator's recovery code does not act on other users: the administrator
// pages ask for a real factor, and their check refuses recovery codes.
func TestAdministratorsRecoveryCodeDoesNotAdminister(t *testing.T) {
	g := newGateway(t, adminSetup())
	bob := g.client()
	secret := bob.asAdmin("bob")
	codes := bob.makeRecoveryCodes(secret, 2, true)

	// Bob's phone is lost: a new browser passes a check with a recovery code.
	lost := g.client()
	lost.login("bob")
	r := lost.page("GET", "/instances/i-1001/delete", nil)
	loc := r.Header.Get("Location")
	page := lost.page("GET", loc, nil)
	if done := lost.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "method": {"recovery"}, "code": {codes[0]}}); done.StatusCode != http.StatusSeeOther ||
		strings.HasPrefix(done.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("the recovery code: %d %q", done.StatusCode, done.Header.Get("Location"))
	}
	// The administrator pages still ask for a check, one that takes no recovery code.
	r = lost.page("GET", "/.stepup/admin/", nil)
	check := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(check, "/.stepup/challenge/") {
		t.Fatalf("the administrator pages after a recovery code: %d %q", r.StatusCode, check)
	}
	page = lost.page("GET", check, nil)
	if strings.Contains(page.Body, `id="recovery-form"`) {
		t.Fatal("the administrators' check offers a recovery code")
	}
	refused := lost.submit(check, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "method": {"recovery"}, "code": {codes[1]}})
	if refused.Posted == http.StatusSeeOther && !strings.HasPrefix(refused.Request.URL.Path, "/.stepup/challenge/") {
		t.Fatalf("a recovery code passed the administrators' check: %s", refused.Request.URL.Path)
	}
	if r := lost.page("GET", "/.stepup/admin/users/carol", nil); r.StatusCode == http.StatusOK {
		t.Fatal("an administrator reached a user's page with a recovery code alone")
	}
}
