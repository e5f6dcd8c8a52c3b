package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	rules := Rules{
		{Name: "instances", Paths: []string{"/api/instances/*"}, Methods: []string{"POST", "DELETE"}, MaxAge: 5 * time.Minute},
		{Name: "pay", Paths: []string{"/billing/pay"}, Methods: []string{"post"}, MaxAge: 2 * time.Minute},
		{Name: "reports", Paths: []string{"/reports/*"}, Methods: []string{"GET"}, MaxAge: time.Minute},
	}
	tests := []struct {
		method, path string
		anyMethod    bool
		want         Coverage
		rule         string
	}{
		{"DELETE", "/api/instances/i-1", false, Covered, "instances"},
		{"delete", "/api/instances/i-1", false, Covered, "instances"},
		{"GET", "/api/instances/i-1", false, PathOnly, ""},
		{"GET", "/api/instances/i-1", true, Covered, "instances"},
		{"HEAD", "/reports/q1", false, Covered, "reports"},
		{"GET", "/dashboard", false, NotCovered, ""},
		{"GET", "/dashboard", true, NotCovered, ""},
		// Spellings every reading agrees on: covered.
		{"DELETE", "/API/Instances/i-1/", false, Covered, "instances"},
		{"DELETE", "//api//instances//i-1", false, Covered, "instances"},
		{"POST", "/billing/pay/", false, Covered, "pay"},
		{"DELETE", "/api/instances/i-1;v=1", false, Covered, "instances"},
		{"DELETE", "/api/instances/my%20box", false, Covered, "instances"},
		// Readings that disagree: refused.
		{"DELETE", "/api/instances%2fi-1", false, Ambiguous, "instances"},
		{"DELETE", "/api/x/..%2finstances/i-1", false, Ambiguous, "instances"},
		{"DELETE", "/api/x/%2e%2e/instances/i-1", false, Ambiguous, "instances"},
		{"DELETE", "/api/x/../instances/i-1", false, Ambiguous, "instances"},
		{"DELETE", "/api/instances%252fi-1", false, Ambiguous, "instances"},
		{"DELETE", `/api\instances\i-1`, false, Ambiguous, "instances"},
		{"DELETE", "/api%5cinstances%5ci-1", false, Ambiguous, "instances"},
		{"DELETE", "/api;x/instances/i-1", false, Ambiguous, "instances"},
		{"DELETE", "/%61pi/instances/i-1", false, Ambiguous, "instances"},
		{"POST", "/billing/pay;jsessionid=1", false, Ambiguous, "pay"},
		{"POST", "/billing%2Fpay", false, Ambiguous, "pay"},
		// Letters that case-blind routers read as ASCII ones (ı, İ, ſ, the Kelvin sign).
		{"DELETE", "/api/ınstances/i-1", false, Covered, "instances"},
		{"GET", "/reportſ/q1", false, Covered, "reports"},
		{"DELETE", "/api/%C4%B1nstances/i-1", false, Ambiguous, "instances"},
		{"POST", "/b%C4%B0LLING/pay", false, Ambiguous, "pay"},
		// Compatibility characters: full-width letters, the "ﬀ" ligature.
		{"POST", "/billing/%EF%BD%90%EF%BD%81%EF%BD%99", false, Ambiguous, "pay"},
		{"DELETE", "/api/instances/%EF%AC%80", false, Covered, "instances"},
		{"POST", "/billing/ｐａｙ", false, Ambiguous, "pay"}, // unescaped, as a rewrite header may carry it
		// IIS's %u escapes, trailing spaces.
		{"POST", "/billing%u002fpay", false, Ambiguous, "pay"},
		{"POST", "/%u0062illing/pay", false, Ambiguous, "pay"},
		{"POST", "/billing/pay%20%20", false, Ambiguous, "pay"},
		{"GET", "/files/%u00e9t%u00e9", false, NotCovered, ""},
		// Suffixes Spring MVC routes past (".json"), a trailing dot, a NUL.
		{"POST", "/billing/pay.json", false, Ambiguous, "pay"},
		{"POST", "/billing/PAY.x.y", false, Ambiguous, "pay"},
		{"POST", "/billing/pay.", false, Ambiguous, "pay"},
		{"POST", "/billing/pay%00", false, Ambiguous, "pay"},
		{"POST", "/billing/pay%00.css", false, Ambiguous, "pay"},
		{"POST", "/billing/%EF%BD%90%EF%BD%81%EF%BD%99%00x", false, Ambiguous, "pay"}, // full-width and a NUL
		{"DELETE", "/api/instances/i-1.json", false, Covered, "instances"},
		{"GET", "/static/app.js", false, NotCovered, ""},
		{"GET", "/billing/.pay", false, NotCovered, ""},
		// Odd spellings of unprotected paths pass.
		{"GET", "/files/a%20b.txt", false, NotCovered, ""},
		{"GET", "/dash%62oard;x=1", false, NotCovered, ""},
		{"GET", "/a/../b", false, NotCovered, ""},
	}
	for _, tt := range tests {
		r, c := rules.Classify(tt.method, ReadPath(tt.path), tt.anyMethod)
		if c != tt.want || (tt.rule != "" && r.Name != tt.rule) {
			t.Errorf("Classify(%s %s, any=%v) = %q %v; want %q %v (readings %q)", tt.method, tt.path, tt.anyMethod, r.Name, c, tt.rule, tt.want, PathReadings(tt.path))
		}
	}
}

func TestClassifyPicksStrictestOverReadings(t *testing.T) {
	rules := Rules{
		{Name: "broad", Paths: []string{"/api/*"}, MaxAge: 10 * time.Minute},
		{Name: "pay", Paths: []string{"/api/pay"}, MaxAge: time.Minute},
	}
	// One reading is /api/pay, the other /api/x;/pay: both covered, pay is stricter.
	if r, c := rules.Classify("POST", ReadPath("/api/x/..;/pay"), false); c != Covered || r.Name != "pay" {
		t.Fatalf("got %q %v", r.Name, c)
	}
}

func TestOnRoute(t *testing.T) {
	for p, want := range map[string]Coverage{
		"/login": Covered, "/Login/": Covered, "//login": Covered, "/%6cogin": Ambiguous,
		"/login;x=1": Ambiguous, "/login%2f": Ambiguous, "/a/../login": Ambiguous, "/logins": NotCovered, "/x%2flogin": NotCovered,
	} {
		if got := ReadPath(p).On("/login"); got != want {
			t.Errorf("OnRoute(%q) = %v, want %v (readings %q)", p, got, want, PathReadings(p))
		}
	}
}

func TestLongOddPathsAreNotRead(t *testing.T) {
	long := "/api/" + strings.Repeat("%41", 4000)
	if _, c := (Rules{{Paths: []string{"/x"}}}).Classify("GET", ReadPath(long), false); c != Ambiguous {
		t.Fatalf("a long escaped path: %v", c)
	}
	if _, c := (Rules{}).Classify("GET", ReadPath(long), false); c != NotCovered {
		t.Fatalf("a long escaped path without rules: %v", c)
	}
}

// A rule or a login whose path has a suffix still matches that path: the reading
// without the suffix can only add to a verdict, never take Covered away.
func TestSuffixReadingsOnlyAdd(t *testing.T) {
	rules := Rules{
		{Name: "struts", Paths: []string{"/deleteUser.action"}, Methods: []string{"POST"}},
		{Name: "php", Paths: []string{"/admin/*.php"}, Methods: []string{"POST"}},
		{Name: "pay", Paths: []string{"/billing/pay"}, Methods: []string{"POST"}},
	}
	for _, tt := range []struct {
		path string
		want Coverage
	}{
		{"/deleteUser.action", Covered},
		{"/DELETEUSER.ACTION/", Covered},
		{"/deleteUser.action;jsessionid=1", Ambiguous}, // a parameter kept or dropped, as on any exact rule
		{"/deleteUser", NotCovered},
		{"/admin/users.php", Covered},
		{"/admin/users.php%00", Ambiguous}, // cut at the NUL or not
		{"/billing/pay.json", Ambiguous},
		{"/billing/pay.json;x=1", Ambiguous},
		{"/billing/pay%2ejson", Ambiguous},
	} {
		if _, got := rules.Classify("POST", ReadPath(tt.path), false); got != tt.want {
			t.Errorf("Classify(POST %s) = %v, want %v (readings %q)", tt.path, got, tt.want, PathReadings(tt.path))
		}
	}
	for path, want := range map[string]Coverage{"/login.php": Covered, "/LOGIN.PHP": Covered, "/login": NotCovered, "/login.php.bak": NotCovered} {
		if got := ReadPath(path).On("/login.php"); got != want {
			t.Errorf("%s On /login.php = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]Coverage{"/login.json": Ambiguous, "/login.": Ambiguous, "/login": Covered, "/logins": NotCovered} {
		if got := ReadPath(path).On("/login"); got != want {
			t.Errorf("%s On /login = %v, want %v", path, got, want)
		}
	}
}

func TestPathReadings(t *testing.T) {
	got := PathReadings("/A%2fb;x/..%5cc")
	for _, want := range []string{"/a/b/../c", "/a%2fb;x/..%5cc", "/a/c", "/a/b;x/..\\c"} {
		if !slices.Contains(got, want) {
			t.Errorf("readings %q lack %q", got, want)
		}
	}
}

func TestPlainPathNeedsNoAllocation(t *testing.T) {
	rules := Rules{{Name: "x", Paths: []string{"/api/instances/*"}, Methods: []string{"DELETE"}}}
	for _, p := range []string{"/dashboard/widgets", "/static/app.min.js"} {
		if n := testing.AllocsPerRun(100, func() { rules.Classify("GET", ReadPath(p), false) }); n != 0 {
			t.Fatalf("%v allocations for the plain path %s", n, p)
		}
	}
}

func FuzzClassify(f *testing.F) {
	rules := Rules{{Name: "x", Paths: []string{"/api/instances/*", "/pay"}, Methods: []string{"DELETE", "POST"}}}
	for _, s := range []string{"/api/instances/1", "/a%2f..%2fpay", `/api\instances`, "/pay;x", "/%252e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// Whatever the spelling: if the decoded, cleaned path is covered, the request
		// is never let through unchecked.
		_, c := rules.Classify("DELETE", ReadPath(p), false)
		if d, err := urlDecode(p); err == nil {
			if _, ok := rules.Match("DELETE", d); ok && c != Covered && c != Ambiguous {
				t.Fatalf("%q decodes to a covered path but classifies as %v", p, c)
			}
		}
	})
}

func urlDecode(p string) (string, error) { return url.PathUnescape(p) }

func BenchmarkClassify(b *testing.B) {
	rules := Rules{
		{Paths: []string{"/api/instances/*", "/api/billing/*"}, Methods: []string{"POST", "PUT", "DELETE"}, MaxAge: 5 * time.Minute},
		{Paths: []string{"/instances/*/delete", "/billing/pay"}, MaxAge: 5 * time.Minute},
	}
	// The worst a client can send: a path near maxReadablePath with every feature
	// that multiplies its readings.
	worst := "/%u0061%C4%B1%EF%BD%90%00;x\\..%2f%252e.json"
	worst = strings.Repeat(worst, (maxReadablePath-1)/len(worst))
	for _, p := range []string{"/dashboard/overview", "/api/instances/i-1001", "/api/instances%2fi-1001;x", worst} {
		name := p
		if len(name) > 40 {
			name = fmt.Sprintf("worst-%dB", len(p))
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				rules.Classify("DELETE", ReadPath(p), false)
			}
		})
	}
}
