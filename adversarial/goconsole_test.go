package adversarial

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// goConsole is a console built the way Go consoles are: Go's ServeMux with method
// patterns (case-sensitive methods, GET patterns answer HEAD, unclean paths
// redirected), encoding/json decoding into a struct (keys match case-insensitively,
// the last duplicate wins), and r.FormValue (the body before the query). It has the
// same users, routes and test endpoints as the Python console, so every attack runs
// against both.
type goConsole struct {
	URL string
	// earlyHints: a good login first sends 103 Early Hints with a cookie.
	earlyHints bool

	mu        sync.Mutex
	requests  []consoleRequest
	sessions  map[string]string
	instances []string
	deleted   []deletion
	payments  []payment
	logins    []string
}

var consoleUsers = []string{"alice", "bob", "carol", "dave", "eve"}

func startGoConsole(t *testing.T, flags ...string) *goConsole {
	t.Helper()
	c := &goConsole{earlyHints: slices.Contains(flags, "--early-hints")}
	c.reset()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<form method="post" action="/login"><input name="username"><input name="password" type="password"></form>`)
	})
	mux.HandleFunc("/logout", c.logout)
	mux.HandleFunc("GET /api/whoami", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		writeJSON(w, http.StatusOK, map[string]string{"user": user})
	}))
	mux.HandleFunc("GET /dashboard", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<h1>Dashboard of "+user+"</h1>")
	}))
	mux.HandleFunc("GET /api/instances", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		writeJSON(w, http.StatusOK, c.instances)
	}))
	mux.HandleFunc("DELETE /api/instances/{id}", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		if !c.remove(r.PathValue("id"), user) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "instance not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("id")})
	}))
	mux.HandleFunc("GET /instances/{id}/delete", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<form method="post"><button>Delete</button></form>`)
	}))
	mux.HandleFunc("POST /instances/{id}/delete", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		if !c.remove(r.PathValue("id"), user) {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/instances", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /billing/pay", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		c.pay(user)
		http.Redirect(w, r, "/billing", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /api/billing/pay", c.session(func(w http.ResponseWriter, r *http.Request, user string) {
		c.pay(user)
		writeJSON(w, http.StatusOK, map[string]bool{"paid": true})
	}))

	test := http.NewServeMux()
	test.HandleFunc("GET /__requests", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		writeJSON(w, http.StatusOK, c.requests)
	})
	test.HandleFunc("GET /__state", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		writeJSON(w, http.StatusOK, consoleState{Instances: slices.Sorted(slices.Values(c.instances)), Deleted: c.deleted, Payments: c.payments, Logins: c.logins})
	})
	test.HandleFunc("POST /__reset", func(w http.ResponseWriter, r *http.Request) {
		c.reset()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.RequestURI == "/__requests" || r.RequestURI == "/__state" || r.RequestURI == "/__reset" {
			test.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.mu.Lock()
		c.requests = append(c.requests, consoleRequest{Method: r.Method, Target: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
		c.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *goConsole) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests, c.deleted, c.payments, c.logins = nil, nil, nil, nil
	c.sessions = map[string]string{}
	c.instances = []string{"i-1001", "i-1002", "i-1003", "i-1004"}
}

func (c *goConsole) remove(id, user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.instances, id)
	if i < 0 {
		return false
	}
	c.instances = slices.Delete(c.instances, i, i+1)
	c.deleted = append(c.deleted, deletion{ID: id, By: user})
	return true
}

func (c *goConsole) pay(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.payments = append(c.payments, payment{By: user})
}

// login reads JSON with encoding/json into a struct, a form with r.FormValue.
func (c *goConsole) login(w http.ResponseWriter, r *http.Request) {
	var creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	asJSON := r.Header.Get("Content-Type") == "application/json"
	if asJSON {
		if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json"})
			return
		}
	} else {
		creds.Username, creds.Password = r.FormValue("username"), r.FormValue("password")
	}
	if !slices.Contains(consoleUsers, creds.Username) || creds.Password != creds.Username+"-password" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid credentials"})
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	c.mu.Lock()
	c.sessions[id] = creds.Username
	c.logins = append(c.logins, creds.Username)
	c.mu.Unlock()
	if c.earlyHints {
		h := w.Header()
		h.Set("Link", "</style.css>; rel=preload")
		h.Set("Set-Cookie", (&http.Cookie{Name: "console_early", Value: id, Path: "/"}).String())
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		h.Del("Set-Cookie")
	}
	http.SetCookie(w, &http.Cookie{Name: "console_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if asJSON {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": creds.Username})
		return
	}
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

func (c *goConsole) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie("console_session"); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: "console_session", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (c *goConsole) session(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie("console_session")
		c.mu.Lock()
		user := ""
		if err == nil {
			user = c.sessions[ck.Value]
		}
		c.mu.Unlock()
		if user == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
			return
		}
		h(w, r, user)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Requests returns every request the console received, in order.
func (c *goConsole) Requests(*testing.T) []consoleRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// State returns what the console's users have done.
func (c *goConsole) State(*testing.T) consoleState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return consoleState{Instances: slices.Sorted(slices.Values(c.instances)), Deleted: slices.Clone(c.deleted), Payments: slices.Clone(c.payments), Logins: slices.Clone(c.logins)}
}

// Reset forgets every request, session and operation.
func (c *goConsole) Reset(*testing.T) { c.reset() }
