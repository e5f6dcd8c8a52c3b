package adversarial

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/internal/totptest"
)

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// headerSite is header mode: an auth layer in front (forward_auth to a single
// sign-on service that names the user in Remote-User), then the gateway.
func headerSite(t *testing.T) string {
	return "\tforward_auth " + startAuthServer(t) + " {\n\t\turi /verify\n\t\tcopy_headers Remote-User\n\t}\n" +
		stepupSite("\t\tidentity header Remote-User\n"+protectBlock)
}

// ssoClient is a browser signed in to the auth layer (and the console) as user.
func (s *stack) ssoClient(user string) *client {
	c := s.client()
	u, _ := url.Parse(s.URL)
	c.jar.SetCookies(u, []*http.Cookie{{Name: "sso", Value: user, Path: "/"}})
	return c
}

// tryChallenge opens and answers challenge loc as c would, with codes from app, and
// returns the statuses.
func (c *client) tryChallenge(t *testing.T, loc string, app *totptest.App) []int {
	t.Helper()
	id := match(t, idRE, loc)
	code1, code2 := app.BindingCodes()
	page := c.page("GET", loc, nil)
	csrf := "x"
	if m := csrfRE.FindStringSubmatch(page.Body); m != nil {
		csrf = m[1] // the page opened: use its form, as an attacker would
	}
	codes := url.Values{"csrf": {csrf}, "code": {code2}, "code1": {code1}, "code2": {code2}}
	return []int{
		page.StatusCode,
		c.page("POST", loc, codes).StatusCode,
		c.page("POST", loc+"/sms", url.Values{"csrf": {csrf}}).StatusCode,
		c.page("POST", loc+"/phone", url.Values{"csrf": {csrf}, "number": {"+442079460123"}}).StatusCode,
		c.api("POST", "/.stepup/api/challenges/"+id+"/verify", map[string]string{"code": codes.Get("code")}).StatusCode,
		c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{}).StatusCode,
	}
}

func allForbidden(codes []int) bool {
	for _, c := range codes {
		if c != http.StatusForbidden {
			return false
		}
	}
	return true
}

// In header mode, a challenge belongs to its user and to the browser that started
// it: eve, given dave's challenge URL, cannot open it or bind her authenticator to
// dave; nor can dave's own second browser.
func TestHeaderModeChallengeBelongsToItsUser(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, headerSite(t))
		dave := s.ssoClient("dave")
		dave.api("POST", "/login", map[string]string{"username": "dave", "password": "dave-password"})
		resp := dave.page("GET", "/instances/i-1001/delete", nil) // not protected: GET
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("dave's console: %d", resp.StatusCode)
		}
		resp = dave.page("POST", "/instances/i-1001/delete", url.Values{})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/challenge/") {
			t.Fatalf("dave's delete: %d %q", resp.StatusCode, loc)
		}
		if !strings.Contains(dave.page("GET", loc, nil).Body, "bind-secret") {
			t.Fatal("dave does not see the binding page")
		}

		eve := s.ssoClient("eve")
		eveApp := totptest.New(make([]byte, 20))
		if got := eve.tryChallenge(t, loc, eveApp); !allForbidden(got) {
			t.Errorf("eve on dave's challenge: %v, want 403 everywhere", got)
		}
		daveElsewhere := s.ssoClient("dave")
		if got := daveElsewhere.tryChallenge(t, loc, eveApp); !allForbidden(got) {
			t.Errorf("dave's other browser on the challenge: %v, want 403 everywhere", got)
		}
		// Nothing changed: dave still binds, and only in his browser.
		if page := dave.page("GET", loc, nil); page.StatusCode != http.StatusOK || !strings.Contains(page.Body, "bind-secret") {
			t.Fatalf("dave's challenge after eve's attempts: %d", page.StatusCode)
		}
		if st := s.console.State(t); len(st.Deleted) != 0 {
			t.Fatalf("deleted without dave's second factor: %+v", st.Deleted)
		}
		dave.bindTOTP(loc)
		if st := s.console.State(t); len(st.Deleted) != 1 || st.Deleted[0].By != "dave" {
			t.Fatalf("dave's held delete after binding: %+v", st.Deleted)
		}
	})
}

// In session mode too, another user's session cannot touch a challenge.
func TestSessionModeChallengeBelongsToItsUser(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock))
		alice := s.client()
		alice.mustLogin("alice")
		resp := alice.page("POST", "/billing/pay", url.Values{})
		loc := resp.Header.Get("Location")
		if !strings.Contains(loc, "/challenge/") {
			t.Fatalf("alice's payment: %d %q", resp.StatusCode, loc)
		}
		carol := s.client()
		carol.mustLogin("carol")
		if got := carol.tryChallenge(t, loc, totptest.New(make([]byte, 20))); !allForbidden(got) {
			t.Errorf("carol on alice's challenge: %v, want 403 everywhere", got)
		}
		if st := s.console.State(t); len(st.Payments) != 0 {
			t.Fatalf("paid without alice's second factor: %+v", st.Payments)
		}
	})
}
