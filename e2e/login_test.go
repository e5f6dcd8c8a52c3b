package e2e

// Signing in and out on the console's own login page, through the gateway, and what a
// held or a released login looks like: the responses and the browser's cookies.

import (
	"slices"
	"strings"

	"github.com/chromedp/cdproto/network"
)

// submitLogin fills in and submits the console's login page through the gateway, and
// returns the final document response, wherever the gateway sent the browser, and
// every response on the way (see clickRecording).
func (p *page) submitLogin(user string) (*network.Response, []hop) {
	p.t.Helper()
	p.open("/login")
	p.fill("username", user)
	p.fill("password", user+"-password")
	return p.clickRecording("login-submit")
}

// signIn signs in on the console's login page through the gateway and checks the
// dashboard (a user without login protection).
func (p *page) signIn(user string) {
	p.t.Helper()
	resp, _ := p.submitLogin(user)
	p.expectSignedIn(resp, user)
}

// expectSignedIn checks that the browser shows the console's dashboard for user.
func (p *page) expectSignedIn(resp *network.Response, user string) {
	p.t.Helper()
	p.expectAt(resp, 200, "/dashboard")
	if got := p.text("whoami"); got != user {
		p.fail("signed in as %q, the console shows %q", user, got)
	}
	if got := p.text("dashboard-title"); got != "Dashboard" {
		p.fail("dashboard title %q", got)
	}
}

// signOut uses the console's sign-out link, which the gateway watches.
func (p *page) signOut() {
	p.t.Helper()
	resp := p.click("nav-logout")
	p.expectAt(resp, 200, "/login")
	if !p.has("login-form") {
		p.fail("expected the login form after signing out")
	}
}

// Cookies of a login: the demo console's (its HttpOnly session and the user name that
// scripts can read) and the gateway's session.
const (
	consoleSessionCookie = "console_session"
	consoleUserCookie    = "console_user"
	gatewaySessionCookie = "stepup_session"
)

// expectLoginHeld checks that nothing of a held login has reached the browser: none
// of the console's cookies, in the cookie store (HttpOnly ones included) or to the
// page's scripts, and no gateway session.
func (p *page) expectLoginHeld() {
	p.t.Helper()
	for _, name := range []string{consoleSessionCookie, consoleUserCookie, gatewaySessionCookie} {
		if c := p.cookie(name); c != nil {
			p.fail("the login is held, but the browser has the cookie %s=%s", c.Name, c.Value)
		}
	}
	if dc := p.documentCookie(); strings.Contains(dc, consoleUserCookie+"=") {
		p.fail("the login is held, but the page's scripts see the console's cookie: %q", dc)
	}
}

// expectReleasedLogin checks the answer that completed a held login: the console's
// own, a 303 to its dashboard setting its two cookies, with the gateway's session
// cookie added (the pending-login cookie expires with its challenge).
func (p *page) expectReleasedLogin(h hop) {
	p.t.Helper()
	if h.Status != 303 {
		p.fail("the released login answered %d, want the console's 303", h.Status)
	}
	if loc := h.header("Location"); len(loc) != 1 || loc[0] != "/dashboard" {
		p.fail("the released login redirects to %q, want the console's /dashboard", loc)
	}
	set, cleared := h.setCookies()
	for _, name := range []string{consoleSessionCookie, consoleUserCookie, gatewaySessionCookie} {
		if !slices.Contains(set, name) {
			p.fail("the released login does not set %s; it sets %v", name, set)
		}
	}
	if slices.Contains(set, "stepup_login") || slices.Contains(cleared, gatewaySessionCookie) {
		p.fail("the released login sets %v and clears %v", set, cleared)
	}
}

// expectHeldLogin checks the gateway's answer to a login it holds: a 303 to its
// challenge page that sets the pending-login cookie and nothing of the console's.
func (p *page) expectHeldLogin(h hop) {
	p.t.Helper()
	if h.Status != 303 {
		p.fail("the held login answered %d, want 303 to the challenge", h.Status)
	}
	if loc := h.header("Location"); len(loc) != 1 || !strings.HasPrefix(loc[0], "/.stepup/challenge/") {
		p.fail("the held login redirects to %q, want the gateway's challenge", loc)
	}
	if set, cleared := h.setCookies(); !slices.Equal(set, []string{"stepup_login"}) || len(cleared) != 0 {
		p.fail("the held login sets cookies %v and clears %v; want the pending-login cookie alone", set, cleared)
	}
}

// expectSignedInCookies checks the browser's cookies after a login: the console's,
// as the console set them, and the gateway's session.
func (p *page) expectSignedInCookies() {
	p.t.Helper()
	if c := p.cookie(consoleSessionCookie); c == nil || !c.HTTPOnly || c.Path != "/" {
		p.fail("console session cookie after the login: %+v, want HttpOnly with Path=/", c)
	}
	if c := p.cookie(consoleUserCookie); c == nil || c.HTTPOnly || c.Value != p.text("whoami") {
		p.fail("console user cookie after the login: %+v, want the user's name, readable by scripts", c)
	}
	if dc := p.documentCookie(); !strings.Contains(dc, consoleUserCookie+"=") {
		p.fail("the page's scripts do not see the console's user cookie: %q", dc)
	}
	if c := p.cookie(gatewaySessionCookie); c == nil || !c.HTTPOnly {
		p.fail("gateway session cookie after the login: %+v", c)
	}
}
