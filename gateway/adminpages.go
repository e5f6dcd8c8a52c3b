package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
)

// challengeStarter starts challenges.
type challengeStarter interface {
	Begin(ctx context.Context, c challenge.Challenge) (challenge.Challenge, error)
}

// adminPages are the administrators' page and JSON API: find users, see a user's
// state, turn their protection on or off within the mandates, reset a lost
// authenticator or phone, unlock, sign out everywhere. Every request needs root or an
// administrator with a second factor of their own under 5 minutes (policy.DecideAdmin).
type adminPages struct {
	id         *identifier
	respond    *Responder
	forms      forms
	admin      *Admin
	factors    factorReader
	challenges challengeStarter
	settings   policy.Settings
	prefix     string
	env
}

// pageSize is how many users a page of the list shows.
const pageSize = 50

// authorize checks that the caller may act as an administrator on target ("" for
// the list), and returns the caller. An action (not a view) is also counted against
// the rate limit, and a refusal of one is audited.
func (ap *adminPages) authorize(w http.ResponseWriter, r *http.Request, target, action string) (caller, error) {
	c, err := ap.id.liveCaller(w, r)
	if err != nil {
		return c, err
	}
	f, err := ap.factors.Factors(r.Context(), c.User)
	if err != nil {
		return c, failed(err)
	}
	req, err := ap.id.liveRequest(r, c, ap.now)
	if err != nil {
		return c, err
	}
	d := policy.DecideAdmin(req, ap.settings.Roles, target, f.Bound())
	switch d.Verdict {
	case policy.Allow:
	case policy.Deny:
		ap.log.Warn("administrator action refused", zap.String("actor", c.User), zap.String("target", target),
			zap.String("action", action), zap.String("reason", d.Reason), zap.String("client_ip", ap.clientIP(r)))
		if action != "" {
			ap.admin.Refused(r.Context(), c.User, target, action, d.Reason, ap.clientIP(r))
		}
		return c, &Error{Status: http.StatusForbidden, Code: CodeNotAllowed, Title: say("error.notAllowed.title"), Text: denial(d.Reason),
			Link: ap.prefix + "/admin/", LinkText: say("link.users")}
	case policy.SignIn:
		return c, signIn(d.Reason)
	default:
		return c, ap.stepUp(w, r, c, d)
	}
	if action != "" {
		if err := ap.admin.limit(r.Context(), c.User, ap.now()); err != nil {
			return c, failed(err)
		}
	}
	return c, nil
}

// stepUp begins the challenge an administrator passes first: their bound factors, or
// binding one. A browser comes back to the page it asked for (to the user's page after
// a form).
func (ap *adminPages) stepUp(w http.ResponseWriter, r *http.Request, c caller, d policy.Decision) error {
	binding, err := ap.id.challengeBinding(w, r, c)
	if err != nil {
		return failed(err)
	}
	back := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		back = ap.prefix + "/admin/"
		if u := r.PathValue("user"); u != "" {
			back = ap.userPage(u)
		}
	}
	// A recovery code does not act on other users: a real factor only.
	ch := challenge.Challenge{User: c.User, Binding: binding, Purpose: policy.PurposeOperation, Rule: "administer users", Return: back, Methods: d.Methods, NoRecovery: true}
	if d.Verdict == policy.Bind {
		ch.Purpose, ch.Rule, ch.Methods = policy.PurposeBind, "", ap.settings.Methods
	}
	if ch, err = ap.challenges.Begin(r.Context(), ch); err != nil {
		return failed(err)
	}
	return &Error{Status: http.StatusUnauthorized, Code: CodeStepUp, Title: say("challenge.title"), Text: say("error.adminStepUp"),
		StepUp: &ch, Bind: d.Verdict == policy.Bind}
}

func (ap *adminPages) userPage(user string) string {
	return ap.prefix + "/admin/users/" + url.PathEscape(user)
}

// list is the administrators' page: users by name, fifty at a time.
func (ap *adminPages) list(w http.ResponseWriter, r *http.Request) error {
	if _, err := ap.authorize(w, r, "", ""); err != nil {
		return err
	}
	q, after := r.URL.Query().Get("q"), r.URL.Query().Get("after")
	users, err := ap.admin.Users(r.Context(), q, after, pageSize+1)
	if err != nil {
		return failed(err)
	}
	data := map[string]any{"Title": ap.respond.langOf(r).Text("admin.title"), "Prefix": ap.prefix, "Query": q}
	if len(users) > pageSize {
		users = users[:pageSize]
		data["Next"] = ap.prefix + "/admin/?" + url.Values{"q": {q}, "after": {users[len(users)-1]}}.Encode()
	}
	type row struct{ Name, Link string }
	var rows []row
	for _, u := range users {
		rows = append(rows, row{u, ap.userPage(u)})
	}
	data["Users"] = rows
	return ap.respond.Page(w, r, http.StatusOK, "admin.html", data)
}

// show is one user's page: state, recent events and the actions.
func (ap *adminPages) show(w http.ResponseWriter, r *http.Request) error {
	target := policy.CanonicalUser(r.PathValue("user"))
	c, err := ap.authorize(w, r, target, "")
	if err != nil {
		return err
	}
	st, err := ap.admin.User(r.Context(), target)
	if err != nil {
		return failed(err)
	}
	l := ap.respond.langOf(r)
	var kinds []protectionView
	for _, k := range policy.Kinds {
		ks := st.Login
		v := protectionView{Kind: k, Title: l.Text("protection.login.theirs")}
		if k == policy.Operation {
			ks, v.Title = st.Operation, l.Text("protection.operation.title")
		}
		v.On, v.Mandated = ks.On, ks.Mandated
		for _, m := range ap.settings.Methods {
			v.Methods = append(v.Methods, methodView{Method: m, Label: methodLabel(l, m), Checked: contains(ks.Methods, m)})
		}
		kinds = append(kinds, v)
	}
	notice := ""
	switch done := r.URL.Query().Get("done"); done {
	case "protection", "reset", "unlock", "signout":
		notice = l.Text("admin.done."+done, "User", st.User)
	}
	data := map[string]any{
		"Title": l.Text("admin.user.title", "User", st.User), "Prefix": ap.prefix, "State": st, "Protections": kinds, "Action": ap.userPage(st.User),
		"CSRF": ap.forms.token(c.binding(), "admin:"+st.User), "Notice": notice, "Events": eventViews(l, st.Events),
	}
	if st.LockedUntil != nil {
		data["LockedUntil"] = relativeTime(l, "admin-locked-until", *st.LockedUntil, ap.now())
	}
	if st.TOTPBoundAt != nil {
		data["TOTPBoundAt"] = dateTime(l, "", *st.TOTPBoundAt)
	}
	return ap.respond.Page(w, r, http.StatusOK, "admin_user.html", data)
}

func contains(ms []policy.Method, m policy.Method) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// act is a form on a user's page: protection, reset, unlock or signout.
func (ap *adminPages) act(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return invalidRequest(say("error.unreadableForm"), err)
	}
	target, action := policy.CanonicalUser(r.PathValue("user")), r.PathValue("action")
	c, err := ap.authorize(w, r, target, "admin."+action)
	if err != nil {
		return err
	}
	if err := ap.forms.check(r, c.binding(), "admin:"+target); err != nil {
		return err
	}
	var methods []policy.Method
	for _, m := range r.PostForm["methods"] {
		methods = append(methods, policy.Method(m))
	}
	in := adminInput{Kind: policy.Kind(r.PostFormValue("kind")), On: r.PostFormValue("on") == "on", Methods: methods, Factor: r.PostFormValue("factor")}
	if err := ap.perform(r, c, target, action, in); err != nil {
		return err
	}
	// Post, redirect, get.
	http.Redirect(w, r, ap.userPage(target)+"?"+url.Values{"done": {action}}.Encode(), http.StatusSeeOther)
	return nil
}

// adminInput is an action's arguments, from a form or JSON.
type adminInput struct {
	Kind    policy.Kind     `json:"kind"`
	On      bool            `json:"on"`
	Methods []policy.Method `json:"methods"`
	Factor  string          `json:"factor"`
}

func (ap *adminPages) perform(r *http.Request, c caller, target, action string, in adminInput) error {
	ctx, ip := r.Context(), ap.clientIP(r)
	var err error
	switch action {
	case "protection":
		if in.Kind != policy.Login && in.Kind != policy.Operation {
			return invalidRequest(say("error.unknownProtection"), nil)
		}
		err = ap.admin.SetProtection(ctx, c.User, target, in.Kind, policy.Choice{On: in.On, Methods: in.Methods}, ip)
	case "reset":
		err = ap.admin.Reset(ctx, c.User, target, in.Factor, ip)
	case "unlock":
		err = ap.admin.Unlock(ctx, c.User, target, ip)
	case "signout":
		err = ap.admin.SignOut(ctx, c.User, target, ip)
	default:
		return errNotFound
	}
	if err != nil {
		return failed(err)
	}
	return nil
}

// apiList is GET {prefix}/api/admin/users?q=&after=&limit=.
func (ap *adminPages) apiList(w http.ResponseWriter, r *http.Request) error {
	if _, err := ap.authorize(w, r, "", ""); err != nil {
		return err
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 500 {
		limit = pageSize
	}
	users, err := ap.admin.Users(r.Context(), q.Get("q"), q.Get("after"), limit+1)
	if err != nil {
		return failed(err)
	}
	answer := map[string]any{}
	if len(users) > limit {
		users = users[:limit]
		answer["next_after"] = users[len(users)-1]
	}
	if users == nil {
		users = []string{}
	}
	answer["users"] = users
	return ap.respond.JSON(w, http.StatusOK, answer)
}

// apiShow is GET {prefix}/api/admin/users/{user}.
func (ap *adminPages) apiShow(w http.ResponseWriter, r *http.Request) error {
	target := policy.CanonicalUser(r.PathValue("user"))
	if _, err := ap.authorize(w, r, target, ""); err != nil {
		return err
	}
	st, err := ap.admin.User(r.Context(), target)
	if err != nil {
		return failed(err)
	}
	return ap.respond.JSON(w, http.StatusOK, st)
}

// apiAct is POST {prefix}/api/admin/users/{user}/{action} with a JSON body:
// protection {"kind", "on", "methods"}, reset {"factor": "totp"|"phone"}, unlock {},
// signout {}. It answers with the user's state.
func (ap *adminPages) apiAct(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPI(r); err != nil {
		return err
	}
	target, action := policy.CanonicalUser(r.PathValue("user")), r.PathValue("action")
	c, err := ap.authorize(w, r, target, "admin."+action)
	if err != nil {
		return err
	}
	var in adminInput
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return invalidRequest(say("error.expectedAdminJSON"), err)
	}
	if err := ap.perform(r, c, target, action, in); err != nil {
		return err
	}
	st, err := ap.admin.User(r.Context(), target)
	if err != nil {
		return failed(err)
	}
	return ap.respond.JSON(w, http.StatusOK, st)
}
