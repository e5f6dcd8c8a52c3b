package democonsole

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instanceIDs returns the ids the API lists for the session ck.
func instanceIDs(t *testing.T, c http.Handler, ck []*http.Cookie) []string {
	t.Helper()
	res := do(t, c, req{method: "GET", path: "/api/instances", cookies: ck})
	var list []Instance
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatalf("instances: %d %v: %s", res.StatusCode, err, res.body)
	}
	ids := make([]string, 0, len(list))
	for _, in := range list {
		ids = append(ids, in.ID)
	}
	return ids
}

// balance returns the balance the billing page shows to the session ck.
func balance(t *testing.T, c http.Handler, ck []*http.Cookie) string {
	t.Helper()
	body := do(t, c, req{method: "GET", path: "/billing", accept: browser, cookies: ck}).body
	const open = `<strong id="balance">`
	i := strings.Index(body, open)
	if i < 0 {
		t.Fatalf("no balance on the billing page:\n%s", body)
	}
	rest := body[i+len(open):]
	return rest[:strings.Index(rest, "<")]
}

var seedIDs = []string{"i-1001", "i-1002", "i-1003"}

// TestInventoriesArePerUser: one user's deletes and payments never show to
// another, and a user's second session sees the user's own changes.
func TestInventoriesArePerUser(t *testing.T) {
	c := New()
	alice, bob, carol := login(t, c, "alice"), login(t, c, "bob"), login(t, c, "carol")

	// alice deletes i-1001 with the form and pays her bill.
	if res := do(t, c, req{method: "POST", path: "/instances/i-1001/delete", contentType: formCT, accept: browser, cookies: alice}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's delete: %d", res.StatusCode)
	}
	if res := do(t, c, req{method: "POST", path: "/billing/pay", contentType: formCT, accept: browser, cookies: alice}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's payment: %d", res.StatusCode)
	}
	// bob deletes i-1002 through the API.
	if res := do(t, c, req{method: "DELETE", path: "/api/instances/i-1002", cookies: bob}); res.StatusCode != http.StatusOK {
		t.Fatalf("bob's delete: %d", res.StatusCode)
	}

	for _, tc := range []struct {
		name    string
		ck      []*http.Cookie
		ids     []string
		balance string
	}{
		{"alice", alice, []string{"i-1002", "i-1003"}, "$0.00"},
		{"bob", bob, []string{"i-1001", "i-1003"}, "$128.40"},
		{"carol", carol, seedIDs, "$128.40"},
	} {
		if got := instanceIDs(t, c, tc.ck); !slices.Equal(got, tc.ids) {
			t.Errorf("%s's instances: %v, want %v", tc.name, got, tc.ids)
		}
		if got := balance(t, c, tc.ck); got != tc.balance {
			t.Errorf("%s's balance: %s, want %s", tc.name, got, tc.balance)
		}
		dash := do(t, c, req{method: "GET", path: "/dashboard", accept: browser, cookies: tc.ck})
		mustContain(t, dash.body, `<strong id="instance-count">`+strconv.Itoa(len(tc.ids))+`</strong>`,
			`<strong id="dashboard-balance">`+tc.balance+`</strong>`)
	}

	// bob may still delete the instance alice deleted; alice may not delete it again.
	if res := do(t, c, req{method: "GET", path: "/instances/i-1001/delete", accept: browser, cookies: bob}); res.StatusCode != http.StatusOK {
		t.Errorf("bob's confirmation page of i-1001: %d", res.StatusCode)
	}
	if res := do(t, c, req{method: "DELETE", path: "/api/instances/i-1001", cookies: alice}); res.StatusCode != http.StatusNotFound {
		t.Errorf("alice's second delete of i-1001: %d, want 404", res.StatusCode)
	}

	// A second session of alice (another browser) sees her changes.
	alice2 := login(t, c, "alice")
	if got := instanceIDs(t, c, alice2); !slices.Equal(got, []string{"i-1002", "i-1003"}) {
		t.Errorf("alice's second session: %v", got)
	}
}

// restoreReq is a browser's same-origin POST of the restore form.
func restoreReq(ck []*http.Cookie, back string) req {
	return req{
		method: "POST", path: "/demo/restore", accept: browser, contentType: formCT, cookies: ck,
		body:   url.Values{"back": {back}}.Encode(),
		header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"},
	}
}

func TestRestore(t *testing.T) {
	c := New()
	alice, bob := login(t, c, "alice"), login(t, c, "bob")
	for _, id := range seedIDs {
		do(t, c, req{method: "DELETE", path: "/api/instances/" + id, cookies: alice})
	}
	do(t, c, req{method: "POST", path: "/api/billing/pay", cookies: alice})
	do(t, c, req{method: "DELETE", path: "/api/instances/i-1003", cookies: bob})
	if got := instanceIDs(t, c, alice); len(got) != 0 {
		t.Fatalf("alice's instances before the restore: %v", got)
	}

	res := do(t, c, restoreReq(alice, "/instances"))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/instances?restored=1" {
		t.Fatalf("restore: %d %q, want 303 /instances?restored=1", res.StatusCode, res.Header.Get("Location"))
	}
	page := do(t, c, req{method: "GET", path: res.Header.Get("Location"), accept: browser, cookies: alice})
	mustContain(t, page.body, `<p id="flash" class="flash" role="status">`+restoredFlash+`</p>`,
		`id="instance-i-1001"`, `id="instance-i-1002"`, `id="instance-i-1003"`)
	if got := instanceIDs(t, c, alice); !slices.Equal(got, seedIDs) {
		t.Errorf("alice's instances after the restore: %v, want %v", got, seedIDs)
	}
	if got := balance(t, c, alice); got != "$128.40" {
		t.Errorf("alice's balance after the restore: %s", got)
	}
	// The restored set is a copy: deleting again does not touch the seed.
	do(t, c, req{method: "DELETE", path: "/api/instances/i-1002", cookies: alice})
	if len(seedInstances) != 3 || seedInstances[1].ID != "i-1002" {
		t.Fatalf("the seed changed: %+v", seedInstances)
	}
	// bob's changes are his own: alice's restore left them.
	if got := instanceIDs(t, c, bob); !slices.Equal(got, []string{"i-1001", "i-1002"}) {
		t.Errorf("bob's instances after alice's restore: %v", got)
	}
}

// TestRestoreRedirect: the restore sends the browser back to the page of the
// form, one of the pages that show it; anything else goes to the dashboard.
func TestRestoreRedirect(t *testing.T) {
	c := New()
	ck := login(t, c, "carol")
	for back, want := range map[string]string{
		"/dashboard":            "/dashboard?restored=1",
		"/instances":            "/instances?restored=1",
		"/billing":              "/billing?restored=1",
		"":                      "/dashboard?restored=1",
		"https://evil.example/": "/dashboard?restored=1",
		"//evil.example":        "/dashboard?restored=1",
		"/logout":               "/dashboard?restored=1",
	} {
		res := do(t, c, restoreReq(ck, back))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("back=%q: %d %q, want 303 %q", back, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	for _, path := range []string{"/dashboard", "/instances", "/billing"} {
		page := do(t, c, req{method: "GET", path: path + "?restored=1", accept: browser, cookies: ck})
		mustContain(t, page.body, `<p id="flash" class="flash" role="status">`+restoredFlash+`</p>`)
	}
}

// TestRestoreForm: the pages of the user's data show the restore form, which
// sends the browser back to the same page.
func TestRestoreForm(t *testing.T) {
	c := New()
	ck := login(t, c, "alice")
	for _, path := range []string{"/dashboard", "/instances", "/billing"} {
		page := do(t, c, req{method: "GET", path: path, accept: browser, cookies: ck})
		mustContain(t, page.body,
			`<section class="card" id="demo-data">`,
			`<form id="restore-form" class="inline" method="post" action="/demo/restore"><input type="hidden" name="back" value="`+path+`"><button id="restore-demo" type="submit">Restore demo data</button></form>`)
		if strings.Contains(page.body, `id="flash"`) {
			t.Errorf("%s shows a flash without a restore", path)
		}
	}
	// Not on the pages that are not about the user's data.
	for _, path := range []string{"/login", "/instances/i-1001/delete", "/nowhere"} {
		if page := do(t, c, req{method: "GET", path: path, accept: browser, cookies: ck}); strings.Contains(page.body, "restore-form") {
			t.Errorf("%s shows the restore form", path)
		}
	}
}

// TestRestoreCrossOrigin: a restore from another site (or another port of
// the same host) is refused and changes nothing; same-origin requests and
// clients that are not browsers (no Sec-Fetch-Site, no Origin) are served.
func TestRestoreCrossOrigin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		ok     bool
	}{
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false},
		{"same-site, another origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://example.com:9000"}, false},
		{"foreign Origin only", map[string]string{"Origin": "https://evil.example"}, false},
		{"another port, Origin only", map[string]string{"Origin": "http://example.com:9000"}, false},
		{"null Origin", map[string]string{"Origin": "null"}, false},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"same Origin only", map[string]string{"Origin": "http://example.com"}, true},
		{"no browser headers", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			ck := login(t, c, "alice")
			do(t, c, req{method: "DELETE", path: "/api/instances/i-1001", cookies: ck})

			q := restoreReq(ck, "/instances")
			q.header = tc.header // httptest requests have Host example.com
			res := do(t, c, q)
			got := instanceIDs(t, c, ck)
			if tc.ok {
				if res.StatusCode != http.StatusSeeOther || !slices.Equal(got, seedIDs) {
					t.Errorf("refused: %d, instances %v", res.StatusCode, got)
				}
				return
			}
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", res.StatusCode)
			}
			if !slices.Equal(got, []string{"i-1002", "i-1003"}) {
				t.Errorf("a refused restore changed the instances: %v", got)
			}
		})
	}
}

func TestRestoreOtherMethods(t *testing.T) {
	c := New()
	ck := login(t, c, "alice")
	do(t, c, req{method: "DELETE", path: "/api/instances/i-1001", cookies: ck})
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		res := do(t, c, req{method: method, path: "/demo/restore", accept: browser, cookies: ck})
		if res.StatusCode == http.StatusSeeOther || res.StatusCode < 300 {
			t.Errorf("%s /demo/restore: %d", method, res.StatusCode)
		}
	}
	if got := instanceIDs(t, c, ck); len(got) != 2 {
		t.Errorf("only a POST restores; instances %v", got)
	}
}
