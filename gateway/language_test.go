package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

func TestPagesInTheReadersLanguage(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol")
	browser := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}

	zh := c.do("GET", "/.stepup/", nil, append(browser, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")...)
	if zh.StatusCode != http.StatusOK || zh.Header.Get("Content-Language") != "zh-Hans" ||
		!strings.Contains(zh.Body, `<html lang="zh-Hans">`) || !strings.Contains(zh.Body, locale.Chinese.Text("settings.title")) {
		t.Fatalf("a Chinese browser: %d %q\n%s", zh.StatusCode, zh.Header.Get("Content-Language"), zh.Body)
	}
	if !strings.Contains(zh.Body, `id="language-en"`) || strings.Contains(zh.Body, `id="language-zh-Hans"`) {
		t.Fatalf("the switch on a Chinese page should offer English only: %s", zh.Body)
	}
	en := c.do("GET", "/.stepup/", nil, append(browser, "Accept-Language", "en-GB")...)
	if !strings.Contains(en.Body, `<html lang="en">`) || !strings.Contains(en.Body, "Two-factor authentication") {
		t.Fatalf("an English browser: %s", en.Body)
	}

	// The switch: remembered over the browser's language, and back to the same page.
	sw := c.do("GET", "/.stepup/language/en?back=%2F.stepup%2F%3Fsaved%3D1", nil, append(browser, "Accept-Language", "zh-CN")...)
	if sw.StatusCode != http.StatusSeeOther || sw.Header.Get("Location") != "/.stepup/?saved=1" {
		t.Fatalf("choosing English: %d %q", sw.StatusCode, sw.Header.Get("Location"))
	}
	after := c.do("GET", "/.stepup/?saved=1", nil, append(browser, "Accept-Language", "zh-CN")...)
	if !strings.Contains(after.Body, `<html lang="en">`) || !strings.Contains(after.Body, "Your settings are saved.") {
		t.Fatalf("English chosen, Chinese browser: %s", after.Body)
	}

	// Only same-origin ways back; only languages the gateway speaks.
	for _, back := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"} {
		r := c.do("GET", "/.stepup/language/zh-Hans?back="+url.QueryEscape(back), nil, browser...)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Errorf("back=%q: %d %q, want a redirect to /", back, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r := c.do("GET", "/.stepup/language/fr", nil, browser...); r.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown language: %d", r.StatusCode)
	}

	// The API speaks English to developers, with a code clients can translate.
	api := c.api("POST", "/.stepup/api/settings", map[string]any{"nonsense": true}, "Accept-Language", "zh-CN", "Cookie", "stepup_lang=zh-Hans")
	if body := api.json(t); body["error"] != string(CodeInvalidRequest) || !strings.HasPrefix(body["error_description"].(string), "Expected") {
		t.Fatalf("the API with a Chinese reader: %d %s", api.StatusCode, api.Body)
	}
}

func TestOperatorsDefaultLanguage(t *testing.T) {
	g := newGateway(t, func(s *setup) { s.opts.Lang = locale.Chinese })
	c := g.client()
	c.login("carol")
	browser := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
	for accept, want := range map[string]string{"": "zh-Hans", "fr-FR,fr": "zh-Hans", "en-US": "en"} {
		r := c.do("GET", "/.stepup/", nil, append(browser, "Accept-Language", accept)...)
		if got := r.Header.Get("Content-Language"); got != want {
			t.Errorf("Accept-Language %q with default zh-Hans: page in %q, want %q", accept, got, want)
		}
	}
}

// A protect rule's name and description as the operator wrote them for Chinese
// readers, with the held request from the request itself.
func TestRuleTextsInTheReadersLanguage(t *testing.T) {
	g := newGateway(t, func(s *setup) {
		s.opts.Rules[0].Description = "Deleting an instance cannot be undone."
		s.opts.RuleTexts = map[string]map[*locale.Lang]RuleText{"instance changes": {locale.Chinese: {Name: "实例变更", Description: "删除实例后无法恢复。"}}}
	})
	c := g.client()
	c.login("carol")
	c.bindTOTP()
	c.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: tokenCookie, Value: "", MaxAge: -1}})
	browser := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
	r := c.do("GET", "/instances/i-1001/delete", nil, browser...)
	loc := r.Header.Get("Location")
	zh := c.do("GET", loc, nil, append(browser, "Accept-Language", "zh-CN")...)
	if !strings.Contains(zh.Body, `<strong id="challenge-rule">实例变更</strong>`) || !strings.Contains(zh.Body, "删除实例后无法恢复。") {
		t.Fatalf("a Chinese reader's challenge: %s", zh.Body)
	}
	en := c.do("GET", loc, nil, append(browser, "Accept-Language", "en")...)
	if !strings.Contains(en.Body, `<strong id="challenge-rule">instance changes</strong>`) || !strings.Contains(en.Body, "Deleting an instance cannot be undone.") {
		t.Fatalf("an English reader's challenge: %s", en.Body)
	}
}

// An operator's rule may not take the name of one of the gateway's own checks, whose
// pages would then show its description.
func TestRuleNameOfAGatewayCheckRefused(t *testing.T) {
	mem, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	keys := newKeys(t)
	tokens, err := token.New(token.Config{Issuer: "x", Audience: "x", HMACKey: keys.signing}, mem)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := challenge.NewSealer(keys.sealing)
	challenges, err := challenge.New(challenge.Service{Store: mem, Sealer: sealer, Issuer: "x"})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{unusualSignIn}
	for name := range builtInRules {
		names = append(names, name)
	}
	for _, name := range names {
		o := demoSetup().opts
		o.FormKey = keys.form
		o.Rules = append(o.Rules, policy.OperationRule{Name: name, Paths: []string{"/x"}, MaxAge: time.Minute, Description: "not yours"})
		if _, err := New(o, mem, tokens, challenges); err == nil || !strings.Contains(err.Error(), "one of the gateway's own checks") {
			t.Errorf("rule named %q: %v, want it refused", name, err)
		}
	}
	o := demoSetup().opts
	o.FormKey = keys.form
	if _, err := New(o, mem, tokens, challenges); err != nil {
		t.Fatalf("the demo's rules: %v", err)
	}
}
