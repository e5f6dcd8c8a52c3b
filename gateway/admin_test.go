package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// adminSetup: alice is root, bob and erin administrators.
func adminSetup() func(*setup) {
	return withRoles([]string{"alice"}, []string{"bob", "erin"})
}

// asAdmin signs user in, binds an app and passes a fresh step-up, so administrator
// actions are allowed for the next five minutes.
func (c *client) asAdmin(user string) []byte {
	t := c.g.t
	t.Helper()
	c.login(user)
	secret := c.bindTOTP()
	r := c.page("GET", "/.stepup/admin/", nil)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("the admin page without a recent second factor: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	done := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "code": {nextCode(secret, 1)}})
	if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != "/.stepup/admin/" {
		t.Fatalf("step-up for the admin page: %d %q", done.StatusCode, done.Header.Get("Location"))
	}
	return secret
}

// adminForm submits a form on a user's admin page.
func (c *client) adminForm(target, action string, form url.Values) response {
	t := c.g.t
	t.Helper()
	page := c.page("GET", "/.stepup/admin/users/"+target, nil)
	if page.StatusCode != http.StatusOK {
		return page
	}
	form.Set("csrf", match(t, csrfRE, page.Body))
	return c.page("POST", "/.stepup/admin/users/"+target+"/"+action, form)
}

// An administrator turns login protection on for a user who has nothing bound: the
// user binds at the next console login. Both see it in the user's events.
func TestAdminTurnsLoginProtectionOn(t *testing.T) {
	g := newGateway(t, adminSetup())
	bob := g.client()
	bob.asAdmin("bob")
	r := bob.adminForm("carol", "protection", url.Values{"kind": {"login"}, "on": {"on"}})
	if r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "done=protection") {
		t.Fatalf("turning carol's login protection on: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	held := g.client().rawLogin("carol", "carol-password")
	loc := held.Header.Get("Location")
	if held.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("carol's login after: %d %q", held.StatusCode, loc)
	}
	st := bob.api("GET", "/.stepup/api/admin/users/carol", nil).json(t)
	if st["login"].(map[string]any)["on"] != true || st["changed_by"] != "bob" {
		t.Fatalf("carol's state: %v", st)
	}
	events := st["events"].([]any)
	if len(events) == 0 || events[0].(map[string]any)["action"] != "protection.login.on" || events[0].(map[string]any)["actor"] != "bob" {
		t.Fatalf("events: %v", events)
	}
}

// A reset authenticator is bound again at the user's next challenge.
func TestAdminResetsAnAuthenticator(t *testing.T) {
	g := newGateway(t, adminSetup())
	carol := g.client()
	carol.login("carol")
	carol.bindTOTP()
	bob := g.client()
	bob.asAdmin("bob")
	if r := bob.adminForm("carol", "reset", url.Values{"factor": {"totp"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
	}
	// The lost device may be in other hands: carol's sessions ended with the reset.
	if r := carol.page("GET", "/instances/i-1001/delete", nil); r.Header.Get("Location") != "/login" {
		t.Fatalf("carol's session after the reset: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	carol.login("carol")
	r := carol.page("GET", "/instances/i-1001/delete", nil)
	page := carol.page("GET", r.Header.Get("Location"), nil)
	if !strings.Contains(page.Body, `id="bind-qr"`) {
		t.Fatalf("carol's next challenge after the reset is not the binding page: %s", page.Body)
	}
	settings := carol.page("GET", "/.stepup/", nil)
	if !strings.Contains(settings.Body, "Authenticator app reset") || !strings.Contains(settings.Body, "Authenticator app set up") {
		t.Fatalf("carol's settings do not list the reset and the binding: %s", settings.Body)
	}
}

// Who may do what: an administrator cannot act on root, another administrator or
// themselves; root can act on administrators; a user cannot administer; refusals of
// actions are audited on the target.
func TestAdminWhoMayDoWhat(t *testing.T) {
	g := newGateway(t, adminSetup())
	bob := g.client()
	bob.asAdmin("bob")
	for _, target := range []string{"alice", "erin", "bob", "BOB"} {
		r := bob.api("POST", "/.stepup/api/admin/users/"+target+"/signout", map[string]any{})
		if r.StatusCode != http.StatusForbidden || r.json(t)["error"] != "not_allowed" {
			t.Errorf("bob signing out %s: %d %s", target, r.StatusCode, r.Body)
		}
	}
	alice := g.client()
	alice.asAdmin("alice")
	if r := alice.api("POST", "/.stepup/api/admin/users/erin/signout", map[string]any{}); r.StatusCode != http.StatusOK {
		t.Fatalf("root signing out an administrator: %d %s", r.StatusCode, r.Body)
	}
	st := alice.api("GET", "/.stepup/api/admin/users/erin", nil).json(t)
	found := false
	for _, ev := range st["events"].([]any) {
		e := ev.(map[string]any)
		if e["actor"] == "bob" && e["result"] == "refused" {
			found = true
		}
	}
	if !found {
		t.Fatalf("bob's refused attempt on erin is not in erin's events: %v", st["events"])
	}
	carol := g.client()
	carol.login("carol")
	if r := carol.api("GET", "/.stepup/api/admin/users", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a user listing users: %d", r.StatusCode)
	}
}

// An administrator without a recent second factor is asked for one; one with
// nothing bound binds first.
func TestAdminNeedsARecentSecondFactor(t *testing.T) {
	g := newGateway(t, adminSetup())
	bob := g.client()
	bob.login("bob")
	r := bob.api("GET", "/.stepup/api/admin/users", nil)
	if r.StatusCode != http.StatusUnauthorized || r.json(t)["bind_required"] != true {
		t.Fatalf("an administrator with nothing bound: %d %s", r.StatusCode, r.Body)
	}
	bob.bindTOTP()
	r = bob.api("GET", "/.stepup/api/admin/users", nil)
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("an administrator without a recent second factor: %d %s", r.StatusCode, r.Body)
	}
}

// Finding users: by name prefix, in pages; a user who never signed in is found once
// an administrator has set them up by name.
func TestAdminFindsUsers(t *testing.T) {
	g := newGateway(t, adminSetup())
	g.client().login("carol")
	bob := g.client()
	bob.asAdmin("bob")
	// Users who never signed in, set up by name.
	for _, u := range []string{"dave", "carl", "newbie"} {
		if r := bob.api("POST", "/.stepup/api/admin/users/"+u+"/protection", map[string]any{"kind": "login", "on": true}); r.StatusCode != http.StatusOK {
			t.Fatalf("setting up %s by name: %d %s", u, r.StatusCode, r.Body)
		}
	}
	page := bob.api("GET", "/.stepup/api/admin/users?limit=2", nil).json(t)
	if u := page["users"].([]any); len(u) != 2 || u[0] != "bob" || u[1] != "carl" || page["next_after"] != "carl" {
		t.Fatalf("first page: %v", page)
	}
	next := bob.api("GET", "/.stepup/api/admin/users?limit=2&after=carl", nil).json(t)
	if u := next["users"].([]any); len(u) != 2 || u[0] != "carol" || u[1] != "dave" {
		t.Fatalf("second page: %v", next)
	}
	found := bob.api("GET", "/.stepup/api/admin/users?q=CA", nil).json(t)
	if u := found["users"].([]any); len(u) != 2 || u[0] != "carl" || u[1] != "carol" {
		t.Fatalf("search: %v", found)
	}
	if u := bob.api("GET", "/.stepup/api/admin/users?q=new", nil).json(t)["users"].([]any); len(u) != 1 || u[0] != "newbie" {
		t.Fatalf("a user set up by name: %v", u)
	}
	html := bob.page("GET", "/.stepup/admin/?q=ca", nil)
	if !strings.Contains(html.Body, "/.stepup/admin/users/carol") {
		t.Fatalf("the admin page does not list carol: %s", html.Body)
	}
}

// A locked user is unlocked by an administrator; the lockout and the unlock are events.
func TestAdminUnlocks(t *testing.T) {
	g := newGateway(t, adminSetup(), withLimits(limitsLockAfter(2)))
	carol := g.client()
	carol.login("carol")
	carol.bindTOTP()
	ch := carol.api("DELETE", "/api/instances/i-1001", nil).json(t)
	for range 2 {
		carol.api("POST", ch["verify_url"].(string), map[string]string{"code": "000000"})
	}
	bob := g.client()
	bob.asAdmin("bob")
	st := bob.api("GET", "/.stepup/api/admin/users/carol", nil).json(t)
	if st["locked_until"] == nil || st["events"].([]any)[0].(map[string]any)["action"] != "lockout" {
		t.Fatalf("carol is not shown locked: %v", st)
	}
	if r := bob.api("POST", "/.stepup/api/admin/users/carol/unlock", map[string]any{}); r.StatusCode != http.StatusOK || r.json(t)["locked_until"] != nil {
		t.Fatalf("unlock: %d %s", r.StatusCode, r.Body)
	}
}

// Administrator actions are rate-limited.
func TestAdminRateLimited(t *testing.T) {
	g := newGateway(t, adminSetup())
	bob := g.client()
	bob.asAdmin("bob")
	var last response
	for range adminRate + 1 {
		last = bob.api("POST", "/.stepup/api/admin/users/carol/unlock", map[string]any{})
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("action %d: %d", adminRate+1, last.StatusCode)
	}
}

// The state an administrator sees holds no secret, and the phone only masked.
func TestAdminSeesNoSecret(t *testing.T) {
	outbox := &smsOutbox{}
	g := newGateway(t, adminSetup(), withSMS(outbox))
	carol := g.client()
	carol.login("carol")
	carol.bindPhone(outbox)
	bob := g.client()
	bob.asAdmin("bob")
	r := bob.api("GET", "/.stepup/api/admin/users/carol", nil)
	if !strings.Contains(r.Body, "0123") || strings.Contains(r.Body, "2079460123") || strings.Contains(r.Body, "sealed") {
		t.Fatalf("carol's state shows too much or too little: %s", r.Body)
	}
	if r := bob.page("GET", "/.stepup/admin/users/carol", nil); strings.Contains(r.Body, "2079460123") || !strings.Contains(r.Body, `id="admin-reset-phone"`) {
		t.Fatalf("admin page: %s", r.Body)
	}
}
