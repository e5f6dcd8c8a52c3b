// Package democonsole is a tiny, plausible cloud console used as the
// protected application in the caddy-stepup demo and browser tests.
//
// It has a password login with its own session cookie, a dashboard, a list
// of fake instances that can be deleted, a billing page that can be paid,
// and a small JSON API doing the same. Each user has their own instances and
// bill, which they can restore to the starting set from the console's pages
// (POST /demo/restore), so the demo can be walked again and again. It knows
// nothing about two-factor authentication: the gateway in front of it adds
// that without the console noticing. All state lives in memory.
//
// The console is a plain [http.Handler] ([New]) and, through [Handler], the
// Caddy HTTP handler module "http.handlers.democonsole" with the Caddyfile
// directive "democonsole", so the demo runs in the same Caddy process as the
// gateway.
package democonsole

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-stepup/stepup/sms"
)

const (
	// SessionCookie names the console's HttpOnly session cookie.
	SessionCookie = "console_session"
	// UserCookie names the console's second, script-readable cookie holding
	// the signed-in user name. It exists so that tests can prove every
	// Set-Cookie header of a login response reaches the browser.
	UserCookie = "console_user"
	// DefaultTitle is the console name shown when none is configured.
	DefaultTitle = "Demo Cloud Console"

	// maxLoginBody bounds the login and restore request bodies.
	maxLoginBody = 64 << 10
)

// User is one of the console's fixed demo accounts.
type User struct {
	Name     string
	Password string
	Role     string // "root", "admin" or "user"
}

// demoUsers are the console's accounts, shown on the login page.
var demoUsers = []User{
	{Name: "alice", Password: "alice-password", Role: "root"},
	{Name: "bob", Password: "bob-password", Role: "admin"},
	{Name: "carol", Password: "carol-password", Role: "user"},
}

// DemoUsers returns the console's fixed accounts: alice (root), bob (admin)
// and carol (user), each with the password "<name>-password".
func DemoUsers() []User {
	return append([]User(nil), demoUsers...)
}

// Console is the demo console as an [http.Handler]. Create it with [New].
type Console struct {
	title    string
	outbox   string // the SMS outbox file shown at /outbox, or "" for none
	users    map[string]User
	sessions *sessionStore
	invs     *inventories
	origins  *http.CrossOriginProtection
	mux      http.Handler

	noticeSecret []byte     // verifies the gateway's notices shown at /notices; nil for none (notices.go)
	notices      *noticeBox // the notices received
}

// state is what a console remembers: sessions and each user's inventory.
// Consoles created by the Caddy module share one state per process (see
// [Handler]).
type state struct {
	sessions *sessionStore
	invs     *inventories
	notices  *noticeBox
}

func newState() *state {
	return &state{sessions: newSessionStore(), invs: newInventories(), notices: &noticeBox{}}
}

// New returns a console with fresh state (seeded instances for every user,
// no sessions) and the default title.
func New() *Console {
	return newConsole(DefaultTitle, "", newState())
}

func newConsole(title, outbox string, st *state) *Console {
	if title == "" {
		title = DefaultTitle
	}
	c := &Console{
		title:    title,
		outbox:   outbox,
		users:    make(map[string]User, len(demoUsers)),
		sessions: st.sessions,
		invs:     st.invs,
		notices:  st.notices,
		origins:  http.NewCrossOriginProtection(),
	}
	for _, u := range demoUsers {
		c.users[u.Name] = u
	}
	c.mux = c.routes()
	return c
}

// routes wires the public pages (login, logout) and, behind the session
// check, everything else.
func (c *Console) routes() http.Handler {
	private := http.NewServeMux()
	private.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
	})
	private.HandleFunc("GET /dashboard", c.dashboard)
	private.HandleFunc("GET /instances", c.instances)
	private.HandleFunc("GET /instances/{id}/delete", c.confirmDelete)
	private.HandleFunc("POST /instances/{id}/delete", c.deleteInstance)
	private.HandleFunc("GET /billing", c.billing)
	private.HandleFunc("POST /billing/pay", c.pay)
	private.HandleFunc("GET /api/instances", c.apiInstances)
	private.HandleFunc("DELETE /api/instances/{id}", c.apiDeleteInstance)
	private.HandleFunc("POST /api/billing/pay", c.apiPay)
	private.HandleFunc("GET /api/whoami", c.apiWhoami)
	private.HandleFunc("POST /demo/restore", c.restore)
	private.HandleFunc("/", c.notFound)

	public := http.NewServeMux()
	public.HandleFunc("GET /login", c.loginPage)
	public.HandleFunc("GET "+LogoPath, c.logo)
	public.HandleFunc("POST /login", c.login)
	public.HandleFunc("GET /logout", c.logout)
	public.HandleFunc("POST /logout", c.logout)
	if c.outbox != "" {
		public.HandleFunc("GET /outbox", c.outboxPage)
	}
	if c.noticeSecret != nil {
		public.HandleFunc("POST "+NoticesPath, c.receiveNotice)
		public.HandleFunc("GET /notices", c.noticesPage)
	}
	public.Handle("/", c.requireSession(private))
	return public
}

// ServeHTTP implements [http.Handler].
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

type userKey struct{}

// currentUser returns the request's signed-in user, set by requireSession.
func currentUser(r *http.Request) User {
	u, _ := r.Context().Value(userKey{}).(User)
	return u
}

// inventory returns the signed-in user's instances and bill.
func (c *Console) inventory(r *http.Request) *inventory {
	return c.invs.of(currentUser(r).Name)
}

// sessionUser resolves the console session cookie to a user.
func (c *Console) sessionUser(r *http.Request) (User, bool) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return User{}, false
	}
	name, ok := c.sessions.lookup(ck.Value)
	if !ok {
		return User{}, false
	}
	u, ok := c.users[name]
	return u, ok
}

// requireSession lets only requests with a console session through. Without
// one, browsers are sent to the login page and other clients get 401 JSON.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.sessionUser(r)
		if !ok {
			if wantsHTML(r) {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// authenticate checks a user name and password. The password comparison is
// constant-time and also runs for unknown users.
func (c *Console) authenticate(name, password string) (User, bool) {
	u, known := c.users[name]
	want := u.Password
	if !known {
		want = "\x00no such user\x00"
	}
	got, exp := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(want))
	match := subtle.ConstantTimeCompare(got[:], exp[:]) == 1
	return u, known && match
}

// loginPage serves GET /login.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "login", pageData{Page: "Sign in", Users: demoUsers, OutboxLink: c.outbox != ""})
}

// outboxSize is how many messages the outbox page shows.
const outboxSize = 50

// outboxPage serves GET /outbox when an outbox is configured: the latest
// messages the gateway's "log" SMS provider wrote instead of sending them.
// It is a development aid and needs no session, so the codes can be read
// while signing in.
func (c *Console) outboxPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Page: "SMS outbox (development)", OutboxLink: true}
	msgs, err := sms.ReadOutbox(c.outbox, outboxSize)
	if err != nil {
		d.Error = "The outbox could not be read: " + err.Error()
	}
	d.Outbox = msgs
	c.render(w, http.StatusOK, "outbox", d)
}

// login serves POST /login with a form or a JSON body.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	asJSON := isJSON(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)

	var creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if asJSON {
		if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
			badRequest(w, err, true)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			badRequest(w, err, false)
			return
		}
		creds.Username = r.PostForm.Get("username")
		creds.Password = r.PostForm.Get("password")
	}

	u, ok := c.authenticate(creds.Username, creds.Password)
	if !ok {
		if asJSON {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid credentials"})
			return
		}
		c.render(w, http.StatusUnauthorized, "login", pageData{
			Page:       "Sign in",
			Error:      "Wrong user name or password",
			Username:   creds.Username,
			Users:      demoUsers,
			OutboxLink: c.outbox != "",
		})
		return
	}

	// A new login replaces any session the client already had.
	if ck, err := r.Cookie(SessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	id := c.sessions.create(u.Name)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	http.SetCookie(w, &http.Cookie{
		Name: UserCookie, Value: u.Name, Path: "/",
		SameSite: http.SameSiteLaxMode,
	})
	if asJSON {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": u.Name})
		return
	}
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// logout serves GET and POST /logout: it ends the session, clears both
// cookies and sends the client to the login page.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(SessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	for _, name := range []string{SessionCookie, UserCookie} {
		http.SetCookie(w, &http.Cookie{
			Name: name, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: name == SessionCookie, SameSite: http.SameSiteLaxMode,
		})
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// restoredFlash is the confirmation a page shows after ?restored=1.
const restoredFlash = "Demo data restored: your instances and bill are back to the starting set"

// dashboard serves GET /dashboard; ?restored=1 shows a confirmation flash.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	inv := c.inventory(r)
	d := pageData{
		Page:          "Dashboard",
		User:          &u,
		InstanceCount: len(inv.list()),
		Balance:       formatCents(inv.balance()),
	}
	if r.URL.Query().Get("restored") == "1" {
		d.Flash = restoredFlash
	}
	c.render(w, http.StatusOK, "dashboard", d)
}

// instances serves GET /instances; ?deleted={id} and ?restored=1 show a
// confirmation flash.
func (c *Console) instances(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	d := pageData{Page: "Instances", User: &u, Instances: c.inventory(r).list()}
	if id := r.URL.Query().Get("deleted"); instanceIDPattern.MatchString(id) {
		d.Flash = "Instance " + id + " deleted"
	} else if r.URL.Query().Get("restored") == "1" {
		d.Flash = restoredFlash
	}
	c.render(w, http.StatusOK, "instances", d)
}

// confirmDelete serves GET /instances/{id}/delete: a page with the same
// delete form as the list, so a browser can navigate to a delete operation.
func (c *Console) confirmDelete(w http.ResponseWriter, r *http.Request) {
	inst, ok := c.inventory(r).get(r.PathValue("id"))
	if !ok {
		c.notFound(w, r)
		return
	}
	u := currentUser(r)
	c.render(w, http.StatusOK, "confirm_delete", pageData{Page: "Delete " + inst.ID, User: &u, Instance: inst})
}

// deleteInstance serves POST /instances/{id}/delete.
func (c *Console) deleteInstance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.inventory(r).remove(id) {
		c.notFound(w, r)
		return
	}
	http.Redirect(w, r, "/instances?deleted="+url.QueryEscape(id), http.StatusSeeOther)
}

// billing serves GET /billing; ?paid=1 and ?restored=1 show a confirmation
// flash.
func (c *Console) billing(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	d := pageData{Page: "Billing", User: &u, Balance: formatCents(c.inventory(r).balance())}
	switch {
	case r.URL.Query().Get("paid") == "1":
		d.Flash = "Payment received"
	case r.URL.Query().Get("restored") == "1":
		d.Flash = restoredFlash
	}
	c.render(w, http.StatusOK, "billing", d)
}

// pay serves POST /billing/pay.
func (c *Console) pay(w http.ResponseWriter, r *http.Request) {
	c.inventory(r).pay()
	http.Redirect(w, r, "/billing?paid=1", http.StatusSeeOther)
}

// restorePages are the pages that show the restore form, and so where a
// restore may send the browser back to (the form's "back" field); anything
// else goes to the dashboard.
var restorePages = []string{"/dashboard", "/instances", "/billing"}

// restore serves POST /demo/restore, the "Restore demo data" form: the
// signed-in user's instances and bill go back to the starting set (other
// users' are untouched), and the browser is sent back (303) to the page the
// form was on, with a confirmation. Only same-origin requests are accepted
// (by Sec-Fetch-Site, else Origin against Host), so another site cannot
// make a signed-in browser undo its user's changes.
func (c *Console) restore(w http.ResponseWriter, r *http.Request) {
	if err := c.origins.Check(r); err != nil {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		badRequest(w, err, false)
		return
	}
	back := r.PostForm.Get("back")
	if !slices.Contains(restorePages, back) {
		back = "/dashboard"
	}
	c.inventory(r).reset()
	http.Redirect(w, r, back+"?restored=1", http.StatusSeeOther)
}

// apiInstances serves GET /api/instances.
func (c *Console) apiInstances(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.inventory(r).list())
}

// apiDeleteInstance serves DELETE /api/instances/{id}.
func (c *Console) apiDeleteInstance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.inventory(r).remove(id) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "instance not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
}

// apiPay serves POST /api/billing/pay.
func (c *Console) apiPay(w http.ResponseWriter, r *http.Request) {
	c.inventory(r).pay()
	writeJSON(w, http.StatusOK, map[string]bool{"paid": true})
}

// apiWhoami serves GET /api/whoami.
func (c *Console) apiWhoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"user": currentUser(r).Name})
}

// notFound answers 404 as JSON under /api/ and for non-browsers, else as a
// page.
func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || !wantsHTML(r) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	u := currentUser(r)
	c.render(w, http.StatusNotFound, "not_found", pageData{Page: "Not found", User: &u})
}

// wantsHTML reports whether the client prefers a page: browsers navigating
// or submitting forms send Accept: text/html.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isJSON reports whether a Content-Type header names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// badRequest answers a malformed request body: 413 if it was too large,
// else 400, as JSON or plain text.
func badRequest(w http.ResponseWriter, err error, asJSON bool) {
	status, msg := http.StatusBadRequest, "bad request"
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		status, msg = http.StatusRequestEntityTooLarge, "request body too large"
	}
	if asJSON {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, status)
}
