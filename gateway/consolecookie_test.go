package gateway

import (
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestCookieMatcherFindsEverySpelling: the console's session cookie is found however a
// console could read the Cookie header, and nothing else is.
func TestCookieMatcherFindsEverySpelling(t *testing.T) {
	m := newCookieMatcher("console_session")
	tests := []struct {
		header string
		want   [][]string // the values of each pair found
	}{
		{"console_session=abc", [][]string{{"abc"}}},
		{"a=1; console_session=abc; b=2", [][]string{{"abc"}}},
		{"a=1;console_session=abc", [][]string{{"abc"}}},
		{"Console_Session=abc", [][]string{{"abc"}}},      // ASP.NET: names in any case
		{"console.session=abc", [][]string{{"abc"}}},      // PHP: '.' is '_'
		{"console session=abc", [][]string{{"abc"}}},      // PHP: ' ' is '_'
		{"console%5Fsession=abc", [][]string{{"abc"}}},    // PHP: names percent-decoded
		{"x=1, console_session=abc", [][]string{{"abc"}}}, // RFC 2965: pairs split at commas
		{"console_session=abc, x=1", [][]string{{"abc, x=1", "abc"}}},
		{` console_session = "abc" `, [][]string{{`"abc"`}}},
		{"console_session=a; console_session=b", [][]string{{"a"}, {"b"}}},
		{"conſole_session=abc", [][]string{{"abc"}}},      // ſ upper-cases to S (Java's equalsIgnoreCase)
		{"console_sessıon=abc", [][]string{{"abc"}}},      // ı upper-cases to I
		{"CONSOLE_SESSİON=abc", [][]string{{"abc"}}},      // İ lower-cases to i
		{"a=é; Console_Session=abc", [][]string{{"abc"}}}, // a line beyond ASCII is read closely
		{"console_sessionx=abc; xconsole_session=abc; session=abc", nil},
		{"", nil},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": {tt.header}}
		var got [][]string
		for _, p := range m.pairs(h) {
			got = append(got, p.values)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: values %q, want %q", tt.header, got, tt.want)
		}
	}
}

// TestContainsFold compares the fast search with the obvious one on random ASCII lines.
func TestContainsFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "cCoOnNsSlLeE_=; x"
	for range 20_000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		line := string(b)
		for _, sub := range []string{"console", "c", "on", "_s", ""} {
			want := strings.Contains(strings.ToLower(line), sub)
			if got := containsFold(line, sub); got != want {
				t.Fatalf("containsFold(%q, %q) = %v, want %v", line, sub, got, want)
			}
		}
	}
}

// TestRemovePairs takes the judged pairs out and leaves the rest as it was.
func TestRemovePairs(t *testing.T) {
	m := newCookieMatcher("sid")
	tests := []struct {
		in   []string
		want []string // nil: no Cookie header left
	}{
		{[]string{"sid=abc"}, nil},
		{[]string{"a=1; sid=abc; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1; sid=abc"}, []string{"a=1"}},
		{[]string{"sid=abc; a=1"}, []string{"a=1"}},
		{[]string{"SID=x; a=1; sid=y"}, []string{"a=1"}},
		{[]string{"a=1", "sid=abc", "b=2; x=9, sid=z"}, []string{"a=1", "b=2"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": slices.Clone(tt.in)}
		removePairs(h, m.pairs(h))
		if !reflect.DeepEqual(h["Cookie"], tt.want) {
			t.Errorf("%q: left %q, want %q", tt.in, h["Cookie"], tt.want)
		}
		if left := m.pairs(h); len(left) != 0 {
			t.Errorf("%q: the cookie is still there: %v", tt.in, left)
		}
	}
}

// TestCookieReadings lists every value a console could read for a cookie value.
func TestCookieReadings(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"abc123", []string{"abc123"}},
		{"a-b_c.d~e:f=", []string{"a-b_c.d~e:f="}},
		{`"abc"`, []string{`"abc"`, "abc"}},
		{"s%3Aabc", []string{"s%3Aabc", "s:abc"}},
		{"a+b", []string{"a+b", "a b"}},
		{`"ab\143"`, []string{`"ab\143"`, `ab\143`, "abc"}}, // Python: octal escapes
		{`"a\"b"`, []string{`"a\"b"`, `a\"b`, `a"b`}},
		{"%zz", []string{"%zz"}}, // no valid decoding: read as is
	}
	for _, tt := range tests {
		if got := cookieReadings(tt.value); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("cookieReadings(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.77":               "203.0.113.0/24",
		"::ffff:203.0.113.77":        "203.0.113.0/24",
		"2001:db8:1234:5678::1":      "2001:db8:1234:5600::/56",
		"2001:db8:1234:56ff::1%eth0": "2001:db8:1234:5600::/56",
		"not an address":             "not an address",
	} {
		if got := network(in); got != want {
			t.Errorf("network(%q) = %q, want %q", in, got, want)
		}
	}
}
