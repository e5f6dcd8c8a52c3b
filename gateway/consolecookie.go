package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/caddy-stepup/stepup/policy"
)

// Reading the console's session cookie the way any console could. Consoles parse the
// Cookie header differently: names compared case-insensitively (ASP.NET), pairs split
// at commas too (RFC 2965 parsers), names and values percent-decoded and '.' or ' ' in
// names read as '_' (PHP), '+' read as a space (PHP), quoted values with backslash
// escapes (Python). A cookie the gateway must judge is found in every such reading, so
// an attacker cannot slip a console session past it by spelling it another way.

// cookieName is a cookie name as every parser above would agree on it: percent-decoded,
// lower case, with '.', ' ' and '[' as '_', and the letters that upper- or lower-case
// to ASCII ones (ſ, ı, İ, the Kelvin sign) as those (policy.LowerCase): a parser that
// compares names through their upper case (Java's equalsIgnoreCase) reads "conſole"
// as "console".
func cookieName(name string) string {
	name = strings.TrimSpace(name)
	if strings.ContainsRune(name, '%') {
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '[':
			return '_'
		}
		return r
	}, policy.LowerCase(name))
}

// cookieMatcher finds one cookie (the console's session cookie) in Cookie headers.
type cookieMatcher struct {
	name string // cookieName form
	// stem is the start of the name up to its first character another parser could
	// spell otherwise; a header without it (and without '%') cannot carry the cookie,
	// which keeps the common request to one substring search.
	stem string
}

func newCookieMatcher(name string) cookieMatcher {
	n := cookieName(name)
	stem := n
	if i := strings.IndexFunc(n, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }); i >= 0 {
		stem = n[:i]
	}
	return cookieMatcher{name: n, stem: stem}
}

// mayCarry reports whether a Cookie header line could carry the cookie at all. A line
// with '%' or any byte beyond ASCII is looked at closely: either can spell the name
// another way.
func (m cookieMatcher) mayCarry(line string) bool {
	return m.stem == "" || strings.Contains(line, m.stem) || strings.ContainsRune(line, '%') ||
		!isASCII(line) || containsFold(line, m.stem)
}

// is reports whether a cookie name, as written in a header, is the cookie in some reading.
func (m cookieMatcher) is(name string) bool {
	name = strings.TrimSpace(name)
	if strings.EqualFold(name, m.name) {
		return true
	}
	// Only a name another parser rewrites can be it otherwise.
	return (strings.ContainsAny(name, "%. [") || !isASCII(name)) && cookieName(name) == m.name
}

// cookiePair is one ';'-separated pair of a Cookie header line that carries the cookie
// in some reading, with every value a console could read for it.
type cookiePair struct {
	line, start, end int // r.Header["Cookie"][line][start:end]
	values           []string
}

// pairs lists the pairs of h's Cookie headers that carry the cookie in some reading.
func (m cookieMatcher) pairs(h http.Header) []cookiePair {
	var out []cookiePair
	for li, line := range h["Cookie"] {
		if !m.mayCarry(line) {
			continue
		}
		start := 0
		for start <= len(line) {
			end := strings.IndexByte(line[start:], ';')
			if end < 0 {
				end = len(line)
			} else {
				end += start
			}
			if values := m.values(line[start:end]); len(values) > 0 {
				out = append(out, cookiePair{line: li, start: start, end: end, values: values})
			}
			start = end + 1
		}
	}
	return out
}

// values are the cookie's values in one pair: the whole pair as most parsers read it,
// and each comma-separated part as RFC 2965 parsers do.
func (m cookieMatcher) values(pair string) []string {
	var out []string
	add := func(part string) {
		k, v, ok := strings.Cut(part, "=")
		if ok && m.is(k) && !slices.Contains(out, strings.TrimSpace(v)) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	add(pair)
	if strings.ContainsRune(pair, ',') {
		for part := range strings.SplitSeq(pair, ",") {
			add(part)
		}
	}
	return out
}

// removePairs takes the given pairs out of h's Cookie headers; a line left empty goes.
func removePairs(h http.Header, pairs []cookiePair) {
	lines := h["Cookie"]
	for i := len(pairs) - 1; i >= 0; i-- { // from the end, so earlier offsets hold
		p := pairs[i]
		line := lines[p.line]
		end := p.end
		if end < len(line) {
			end++ // the ';' after it
		}
		lines[p.line] = line[:p.start] + line[end:]
	}
	kept := lines[:0]
	for _, line := range lines {
		if line = strings.TrimRight(strings.TrimSpace(line), ";"); line != "" {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// cookieReadings are the values a console could read for one cookie value: the value
// itself, unquoted, unquoted with backslash escapes resolved, percent-decoded, and
// form-decoded ('+' as a space). The first is the value as sent.
func cookieReadings(v string) []string {
	out := []string{v}
	if plainCookieValue(v) {
		return out
	}
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	u := v
	if len(u) >= 2 && u[0] == '"' && u[len(u)-1] == '"' {
		u = u[1 : len(u)-1]
		add(u)
		if strings.ContainsRune(u, '\\') {
			add(unescapeBackslashes(u))
		}
	}
	add(strings.Trim(v, `"`))
	for _, s := range slices.Clone(out) {
		if p, err := url.PathUnescape(s); err == nil {
			add(p)
		}
		if q, err := url.QueryUnescape(s); err == nil {
			add(q)
		}
	}
	return out
}

// plainCookieValue reports whether no parser could read v otherwise: only letters,
// digits and characters nobody decodes.
func plainCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!*'()/:=@$^|", c) >= 0) {
			return false
		}
	}
	return true
}

// unescapeBackslashes resolves the escapes of a quoted cookie value as Python's
// http.cookies does: \ooo (octal) is that byte, \x is x.
func unescapeBackslashes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// containsFold reports whether s contains sub (lower case ASCII) in ASCII letters of
// any case. It looks only where sub's first letter is, in either case, so a long
// line of tokens costs a few vectorized byte searches.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	lo, up := sub[0], sub[0]
	if 'a' <= lo && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	next := func(c byte, from int) int {
		if i := strings.IndexByte(s[from:], c); i >= 0 {
			return from + i
		}
		return -1
	}
	atLo, atUp := next(lo, 0), -1
	if up != lo {
		atUp = next(up, 0)
	}
	for {
		i := atLo
		if atUp >= 0 && (i < 0 || atUp < i) {
			i = atUp
		}
		if i < 0 || i+len(sub) > len(s) {
			return false
		}
		if asciiEqualFold(s[i:i+len(sub)], sub) {
			return true
		}
		if i == atLo {
			atLo = next(lo, i+1)
		} else {
			atUp = next(up, i+1)
		}
	}
}

// asciiEqualFold is strings.EqualFold for ASCII letters only: sub's bytes are ASCII.
func asciiEqualFold(s, sub string) bool {
	for i := 0; i < len(sub); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != sub[i] {
			return false
		}
	}
	return true
}

// isASCII reports whether s is all ASCII, eight bytes at a time: it runs on every
// Cookie header.
func isASCII(s string) bool {
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
