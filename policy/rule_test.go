package policy

import (
	"testing"
	"time"
)

func TestOperationRuleMatches(t *testing.T) {
	rule := OperationRule{
		Name:    "instance changes",
		Paths:   []string{"/api/instances/*", "/billing/pay", "*/delete", "/admin/*/keys"},
		Methods: []string{"POST", "DELETE"},
		MaxAge:  5 * time.Minute,
	}
	tests := []struct {
		method, path string
		want         bool
	}{
		{"DELETE", "/api/instances/i-1", true},
		{"delete", "/api/instances/i-1", true},
		{"GET", "/api/instances/i-1", false},
		{"POST", "/billing/pay", true},
		{"POST", "/billing/pay/", true}, // consoles read /a/ and /a alike
		{"HEAD", "/billing/pay", false},
		{"POST", "/billing/payment", false},
		{"POST", "/instances/i-1/delete", true},
		{"POST", "/admin/alice/keys", true},
		{"POST", "/admin/alice/bob/keys", false},
		// Variants that must not slip past the rule.
		{"DELETE", "/API/Instances/i-1", true},
		{"DELETE", "//api//instances/i-1", true},
		{"DELETE", "/api/./instances/i-1", true},
		{"DELETE", "/x/../api/instances/i-1", true},
		{"POST", "/Billing/Pay", true},
		{"POST", "billing/pay", true},
		// A trailing slash is read both ways.
		{"DELETE", "/api/instances", true},
		// Not covered.
		{"DELETE", "/api/instance", false},
		{"POST", "/", false},
		{"POST", "", false},
	}
	for _, tt := range tests {
		if got := rule.Matches(tt.method, tt.path); got != tt.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestRuleWithoutMethodsCoversEveryMethod(t *testing.T) {
	rule := OperationRule{Paths: []string{"/secret"}}
	for _, m := range []string{"GET", "HEAD", "POST", "PATCH", "OPTIONS"} {
		if !rule.Matches(m, "/secret") {
			t.Errorf("%s /secret not covered", m)
		}
	}
}

func TestRulesMatchPicksStrictest(t *testing.T) {
	rules := Rules{
		{Name: "broad", Paths: []string{"/api/*"}, MaxAge: 15 * time.Minute},
		{Name: "billing", Paths: []string{"/api/billing/*"}, MaxAge: time.Minute},
		{Name: "later broad", Paths: []string{"*"}, Methods: []string{"DELETE"}, MaxAge: 10 * time.Minute},
	}
	tests := []struct {
		method, path, want string
		found              bool
	}{
		{"GET", "/api/billing/pay", "billing", true},
		{"GET", "/api/instances", "broad", true},
		{"DELETE", "/api/instances", "later broad", true},
		{"DELETE", "/other", "later broad", true},
		{"GET", "/other", "", false},
	}
	for _, tt := range tests {
		got, ok := rules.Match(tt.method, tt.path)
		if ok != tt.found || got.Name != tt.want {
			t.Errorf("Match(%s %s) = %q, %v; want %q, %v", tt.method, tt.path, got.Name, ok, tt.want, tt.found)
		}
	}
}

func TestCheckPathPattern(t *testing.T) {
	for _, good := range []string{"*", "/a", "/a/*", "*.php", "*del*", "/a/*/b", "/a/[ab]"} {
		if err := CheckPathPattern(good); err != nil {
			t.Errorf("CheckPathPattern(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{"", "api/*", "/a/%2F", "/a//b", "/{env.X}", "/a/[", "/a/\\"} {
		if err := CheckPathPattern(bad); err == nil {
			t.Errorf("CheckPathPattern(%q) = nil, want an error", bad)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"":              "/",
		"/":             "/",
		"/A//b/":        "/a/b",
		"/a/./b/../c":   "/a/c",
		"/../../etc":    "/etc",
		"/api/x%2fy":    "/api/x%2fy",
		"no/leading":    "/no/leading",
		"/trailing/./":  "/trailing",
		"/a/b/../../..": "/",
	} {
		if got := CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRulesMatch(f *testing.F) {
	rules := Rules{{Paths: []string{"/api/instances/*"}, Methods: []string{"DELETE"}, MaxAge: time.Minute}}
	for _, s := range []string{"/api/instances/1", "//API/./instances/x", "/api/instances", "/%2e%2e/"} {
		f.Add("DELETE", s)
	}
	f.Fuzz(func(t *testing.T, method, p string) {
		_, ok := rules.Match(method, p)
		// Whatever the spelling, a path that cleans to /api/instances or one under it
		// with DELETE must be covered: no variant escapes the rule.
		c := CleanPath(p) + "/"
		want := len(c) >= len("/api/instances/") && c[:len("/api/instances/")] == "/api/instances/" && (method == "DELETE" || method == "delete" || equalFold(method, "DELETE"))
		if ok != want {
			t.Fatalf("Match(%q, %q) = %v, clean %q", method, p, ok, c)
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func BenchmarkRulesMatch(b *testing.B) {
	rules := Rules{
		{Paths: []string{"/api/instances/*", "/api/billing/*"}, Methods: []string{"POST", "PUT", "DELETE"}, MaxAge: 5 * time.Minute},
		{Paths: []string{"/instances/*/delete", "/billing/pay"}, MaxAge: 5 * time.Minute},
	}
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			rules.Match("GET", "/dashboard/overview")
		}
	})
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			rules.Match("DELETE", "/api/instances/i-1001")
		}
	})
}
