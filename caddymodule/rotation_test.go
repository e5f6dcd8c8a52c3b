package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// The keys after the rotation.
const (
	nextSigningKey    = "Yp4Wm8Rt2Vn6Kc0Xq3Zs7Lb1Hd5Jf9Gg2Mn4Pr6Tu8W"
	nextEncryptionKey = "Cc3Ee5Gg7Ii9Kk1Mm3Oo5Qq7Ss9Uu1Ww3Yy5Aa7Bb9Dd"
)

// reloadable is one server whose stepup handler is replaced as a config reload
// replaces it, in front of one console that keeps its sessions.
type reloadable struct {
	*stack
	current atomic.Pointer[Handler]
	addr    string
	prefix  string
}

func newReloadable(t *testing.T) *reloadable {
	r := &reloadable{addr: redistest.Addr(t), prefix: redistest.Prefix(t)}
	console := democonsole.New()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, req *http.Request) error {
		console.ServeHTTP(w, req)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := r.current.Load().ServeHTTP(w, req, next); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	r.stack = &stack{t: t, srv: srv}
	return r
}

// block is the stepup block with these keys, current first.
func (r *reloadable) block(signing, encryption []string) string {
	return strings.Replace(demoBlock, "stepup {", "stepup {\n\tstore redis redis://"+r.addr+"/0 "+r.prefix+
		"\n\tsigning_key "+strings.Join(signing, " ")+"\n\tencryption_key "+strings.Join(encryption, " ")+
		"\n\tbind_console_session strict\n\tanomaly", 1)
}

// reload provisions the block and puts it in front of the console.
func (r *reloadable) reload(signing, encryption []string) {
	r.t.Helper()
	h := provision(r.t, r.block(signing, encryption))
	r.h = h
	r.current.Store(h)
}

// stepUp answers the API's step-up challenge for a protected delete with the TOTP
// code of step (from now) and returns the delete's answer after it.
func (c *client) stepUp(secret []byte, step int, instance string) response {
	t := c.g.t
	t.Helper()
	r := c.api("DELETE", "/api/instances/"+instance, nil)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("delete without a step-up: %d %s", r.StatusCode, r.Body)
	}
	code := challenge.TOTPCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
	if v := c.api("POST", r.json(t)["verify_url"].(string), map[string]string{"code": code}); v.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d %s", v.StatusCode, v.Body)
	}
	return c.api("DELETE", "/api/instances/"+instance, nil)
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// sealedWith names the key user's stored authenticator secret is sealed with, from
// the stored bytes.
func sealedWith(t *testing.T, h *Handler, user string) string {
	t.Helper()
	raw, err := h.store.Get(t.Context(), store.UserKey(user, "factors"))
	if err != nil {
		t.Fatal(err)
	}
	var f challenge.Factors
	if err := json.Unmarshal(raw, &f); err != nil || f.TOTP == nil {
		t.Fatalf("factors of %s: %s %v", user, raw, err)
	}
	return challenge.SealedWith(f.TOTP.SealedSecret)
}

func keyID(key string) string { return keyring.IDOf([]byte(key)).String() }

// TestKeyRotationWithLiveSessions rotates the signing and encryption keys of a
// running gateway on Redis: signed-in users with step-up tokens, device cookies,
// console sessions bound to the gateway's (strict) and forms on screen stay as they
// are while the new keys come first and the old ones follow; secrets are resealed on
// use and by `caddy stepup reseal`; new tokens name the new key; once the old keys are
// dropped, their tokens are refused and every resealed secret still opens.
func TestKeyRotationWithLiveSessions(t *testing.T) {
	g := newReloadable(t)
	oldKeys := [][]string{{testSigningKey}, {testEncryptionKey}}
	during := [][]string{{nextSigningKey, testSigningKey}, {nextEncryptionKey, testEncryptionKey}}
	after := [][]string{{nextSigningKey}, {nextEncryptionKey}}

	// Before: the old keys alone.
	g.reload(oldKeys[0], oldKeys[1])
	alice, carol, bob := g.client(), g.client(), g.client()
	alice.login("alice")
	aliceSecret := alice.bindTOTP()
	if alice.cookie(deviceCookieName) == "" {
		t.Fatal("passing a second factor did not make the browser known")
	}
	if r := alice.stepUp(aliceSecret, 1, "i-1001"); r.StatusCode != http.StatusOK {
		t.Fatalf("alice's delete after her step-up: %d %s", r.StatusCode, r.Body)
	}
	aliceSession, aliceToken := alice.cookie("stepup_session"), alice.cookie("stepup_token")
	if kidOf(t, aliceSession) != keyID(testSigningKey) || kidOf(t, aliceToken) != keyID(testSigningKey) {
		t.Fatal("tokens do not name the old key")
	}
	form := match(t, csrfRE, alice.page("GET", "/.stepup/", nil).Body) // a form left on screen
	carol.login("carol")
	carolSecret := carol.bindTOTP()
	carol.page("POST", "/logout", url.Values{})
	bob.login("bob")
	bobSecret := bob.bindTOTP()
	if sealedWith(t, g.h, "alice") != keyID(testEncryptionKey) {
		t.Fatal("a secret is not sealed with the old key")
	}

	// During: the new keys first, the old ones after them.
	g.reload(during[0], during[1])
	if r := alice.page("GET", "/.stepup/", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("alice's session after the reload: %d", r.StatusCode)
	}
	if r := alice.api("DELETE", "/api/instances/i-1002", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("alice's step-up token after the reload: %d %s", r.StatusCode, r.Body)
	}
	// Her console session (released under the old key) reaches the console, and is
	// attached again under the new key's fingerprint.
	if r := alice.api("GET", "/api/whoami", nil); r.StatusCode != http.StatusOK || r.json(t)["user"] != "alice" {
		t.Fatalf("alice's console session after the reload: %d %s", r.StatusCode, r.Body)
	}
	claims, err := g.h.tokens.Parse(token.Session, aliceSession)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := deriveKeys([][]byte{[]byte(nextSigningKey)})
	m := hmac.New(sha256.New, keys.console[0])
	m.Write([]byte(alice.cookie("console_session")))
	fp := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
	if ok, err := g.h.store.Live(t.Context(), "alice", claims.ID, "attached:"+fp); err != nil || !ok {
		t.Fatalf("the console session is not attached under the new key: %v %v", ok, err)
	}
	// The form shown before the reload still submits.
	if r := alice.page("POST", "/.stepup/protection", url.Values{"csrf": {form}, "kind": {"login"}, "on": {"on"}, "methods": {"totp"}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/.stepup/?saved=1" {
		t.Fatalf("a form from before the reload: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	// carol's browser is known (the old key's device cookie): no second factor at
	// login, and the cookie is signed again with the new key. Her new session names
	// the new key; her TOTP verifies and her secret is resealed with the new key.
	oldDevice := carol.cookie(deviceCookieName)
	if r := carol.page("POST", "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("carol's login from her known browser: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if d := carol.cookie(deviceCookieName); d == "" || d == oldDevice {
		t.Fatal("carol's device cookie was not signed again with the new key")
	}
	if kidOf(t, carol.cookie("stepup_session")) != keyID(nextSigningKey) {
		t.Fatal("a new session does not name the new key")
	}
	if r := carol.stepUp(carolSecret, 1, "i-1003"); r.StatusCode != http.StatusOK {
		t.Fatalf("carol's delete after her step-up: %d %s", r.StatusCode, r.Body)
	}
	if kidOf(t, carol.cookie("stepup_token")) != keyID(nextSigningKey) {
		t.Fatal("a new step-up token does not name the new key")
	}
	if got := sealedWith(t, g.h, "carol"); got != keyID(nextEncryptionKey) {
		t.Fatalf("carol's secret after its use is sealed with %s, want the new key", got)
	}
	// The operator reseals the rest: alice's and bob's secrets.
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte("http://127.0.0.1:0 {\n"+g.block(during[0], during[1])+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, config, "reseal")
	if err != nil || !strings.Contains(out, "Looked at 3 records") || !strings.Contains(out, "Resealed 2 values with "+keyID(nextEncryptionKey)) ||
		!strings.Contains(out, "sealed with "+keyID(testEncryptionKey)+": 2") || !strings.Contains(out, "1 values were sealed with "+keyID(nextEncryptionKey)+" already") {
		t.Fatalf("reseal: %v\n%s", err, out)
	}
	if sealedWith(t, g.h, "bob") != keyID(nextEncryptionKey) || sealedWith(t, g.h, "alice") != keyID(nextEncryptionKey) {
		t.Fatal("the reseal command left a secret sealed with the old key")
	}
	out, err = cli(t, config, "reseal", "--json")
	var rep challenge.ResealReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.ResealedCount() != 0 || rep.Current != 3 || rep.KeyID != keyID(nextEncryptionKey) {
		t.Fatalf("reseal again: %v %s", err, out)
	}

	// After: the old keys dropped. Their tokens are refused; every secret opens.
	g.reload(after[0], after[1])
	if r := alice.page("GET", "/.stepup/", nil); r.StatusCode == http.StatusOK {
		t.Fatal("a session signed with the dropped key still works")
	}
	stale := g.client()
	stale.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: "stepup_token", Value: aliceToken}, {Name: "stepup_session", Value: aliceSession}})
	if r := stale.api("DELETE", "/api/instances/i-1004", nil); r.StatusCode == http.StatusOK {
		t.Fatal("a step-up token signed with the dropped key still works")
	}
	if _, err := g.h.tokens.Parse(token.StepUp, aliceToken); err == nil || !errors.Is(err, token.ErrInvalid) || !strings.Contains(err.Error(), "unknown key id") {
		t.Fatalf("the old step-up token: %v", err)
	}
	carol.page("POST", "/logout", url.Values{})
	if r := carol.page("POST", "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("carol's browser after the old key is gone: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := g.client().page("POST", "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}}); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("carol in a new browser is not asked for a second factor: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// bob's browser is new to the new key: his login asks for a second factor, and
	// his secret, resealed by the command, opens with the new key alone.
	r := bob.page("POST", "/login", url.Values{"username": {"bob"}, "password": {"bob-password"}})
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("bob's login: %d %q", r.StatusCode, loc)
	}
	page := bob.page("GET", loc, nil)
	code := challenge.TOTPCode(bobSecret, time.Now().Add(30*time.Second))
	if r := bob.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "code": {code}}); r.StatusCode != http.StatusSeeOther || bob.cookie("stepup_session") == "" {
		t.Fatalf("bob's resealed secret with the old key dropped: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	if kidOf(t, bob.cookie("stepup_session")) != keyID(nextSigningKey) {
		t.Fatal("bob's new session does not name the new key")
	}
	sealer, _ := challenge.NewSealer([]byte(nextEncryptionKey))
	for _, user := range []string{"alice", "carol"} {
		raw, _ := g.h.store.Get(t.Context(), store.UserKey(user, "factors"))
		var f challenge.Factors
		json.Unmarshal(raw, &f)
		if _, err := sealer.Open(f.TOTP.SealedSecret, "totp:"+user); err != nil {
			t.Errorf("%s's resealed secret with the new key alone: %v", user, err)
		}
	}
}

const deviceCookieName = "stepup_device"
