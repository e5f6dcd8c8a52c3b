package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
)

// Every message the pages and the gateway's Go code name is in the catalogs (which a
// locale test holds to every language): a typo in an id would show the id itself.
func TestEveryMessageNamedExists(t *testing.T) {
	used := regexp.MustCompile(`(?:\{\{t |\(t |say\(|\.Text\()"([a-zA-Z][\w.-]*)"(\+?)`)
	files, _ := filepath.Glob("*.go")
	tmpl, _ := filepath.Glob("../web/templates/*.html")
	n := 0
	for _, f := range append(files, tmpl...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			id := m[1]
			if strings.HasSuffix(id, ".") || m[2] == "+" {
				continue // a family, checked below
			}
			n++
			if !locale.Has(id) {
				t.Errorf("%s names message %q, which no catalog holds", f, id)
			}
		}
	}
	if n < 150 {
		t.Fatalf("found only %d message names: is the pattern out of date?", n)
	}
	// The families whose ids are made at run time.
	var family []string
	for _, p := range []string{"empty", "no-digits", "no-plus", "bad-character", "extension", "zero-country-code",
		"unknown-country-code", "too-short", "too-long", "too-long-for-country", "wrong-length", "not-in-service", "other"} {
		family = append(family, "phone.problem."+p)
	}
	for _, a := range []string{"protection", "reset", "unlock", "signout"} {
		family = append(family, "admin.done."+a, "event.admin."+a)
	}
	for _, r := range []policy.Role{policy.RoleUser, policy.RoleAdmin, policy.RoleRoot} {
		family = append(family, "role."+string(r))
	}
	for _, u := range []string{"Minutes", "Hours", "Days"} {
		family = append(family, "time.in"+u, "time."+lower(u)+"Ago")
	}
	for _, id := range builtInRules {
		family = append(family, id)
	}
	for _, a := range []string{"totp.bound", "totp.unbound", "phone.bound", "phone.removed", "reset.totp", "reset.phone", "unlock",
		"lockout", "signout.everywhere", "protection.login.on", "protection.login.off", "protection.operation.on", "protection.operation.off",
		"result.ok", "result.refused", "recovery.created", "recovery.used", "recovery.revoked"} {
		family = append(family, "event."+a)
	}
	for _, id := range family {
		if !locale.Has(id) {
			t.Errorf("message %q is missing", id)
		}
	}
}

// A page says its words in its reader's language: Chinese for a Chinese browser, and
// the API's error_description in English whatever the browser asks.
func TestWordsInTheReadersLanguage(t *testing.T) {
	e := challengeFailure(&challenge.WrongCodeError{AttemptsLeft: 3})
	if got := e.Text.in(locale.Chinese); got != "验证码错误。还可尝试 3 次。" {
		t.Errorf("Chinese = %q", got)
	}
	if got := e.Description(); got != "That code is not right. 3 attempts left." {
		t.Errorf("English = %q", got)
	}
	one := say("error.wrongCode.left", "Count", 1)
	if got := one.english(); got != "That code is not right. 1 attempt left." {
		t.Errorf("one = %q", got)
	}
}
