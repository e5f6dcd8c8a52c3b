package policy

import (
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Coverage is how a request stands to a set of rules, or to one of the gateway's
// routes, over every reading of its path a console could make.
type Coverage int

const (
	// NotCovered: no reading of the path touches a rule.
	NotCovered Coverage = iota
	// PathOnly: the path is a rule's but the method is not; a method-override signal
	// would make it Covered (ask Classify again with anyMethod).
	PathOnly
	// Covered: every reading is covered.
	Covered
	// Ambiguous: some readings are covered and some are not; the console may read the
	// request either way, so the gateway refuses it.
	Ambiguous
)

// maxReadablePath bounds the raw paths read every way: a longer one that is not
// plain is not read at all (Ambiguous).
const maxReadablePath = 8 << 10

// A RequestPath is a request's raw path with the readings a console could make of it
// (see PathReadings). Make it once per request with ReadPath.
type RequestPath struct {
	one  string   // the only reading of a plain path ("" otherwise)
	many []string // the readings of any other path
	// oneBare and bare are the readings without the last segment's suffix
	// (withoutSuffix) that are not readings already: oneBare of a plain path ("" for
	// none; a substring, so an ordinary request allocates nothing), bare of any
	// other. They can only add to a verdict: a path they alone put under a rule is
	// Ambiguous, but a path every other reading puts under a rule stays Covered (a
	// rule or a login named "/pay.php" still matches "/pay.php").
	oneBare string
	bare    []string
	long    bool // too long to read every way
}

// ReadPath reads a raw request path, its percent-encoding intact. An ordinary path
// has one reading and costs no allocation.
func ReadPath(escapedPath string) RequestPath {
	switch {
	case plainPath(escapedPath):
		one := normalize(escapedPath, true)
		bare, _ := withoutSuffix(one)
		return RequestPath{one: one, oneBare: bare}
	case len(escapedPath) > maxReadablePath:
		return RequestPath{long: true}
	}
	many, bare := readAll(escapedPath)
	return RequestPath{many: many, bare: bare}
}

// Classify says which rule covers a request with this method and path. With
// anyMethod the request counts as every method the rules name (it carries a
// method-override signal). The rule returned is the strictest of those that cover a
// reading.
func (rs Rules) Classify(method string, p RequestPath, anyMethod bool) (OperationRule, Coverage) {
	if p.long {
		if len(rs) == 0 {
			return OperationRule{}, NotCovered
		}
		return OperationRule{}, Ambiguous
	}
	r, c := rs.classifyReadings(method, p, anyMethod)
	if c == Covered || c == Ambiguous {
		return r, c
	}
	for _, reading := range p.bareReadings() {
		switch br, bc := rs.classify(method, reading, anyMethod); bc {
		case Covered:
			return br, Ambiguous
		case PathOnly:
			r, c = br, PathOnly
		}
	}
	return r, c
}

// bareReadings are the readings without a suffix, of a plain path or another.
func (p RequestPath) bareReadings() []string {
	if p.oneBare != "" {
		return []string{p.oneBare} // does not escape: no allocation
	}
	return p.bare
}

// classifyReadings is Classify over the readings but the bare ones.
func (rs Rules) classifyReadings(method string, p RequestPath, anyMethod bool) (OperationRule, Coverage) {
	if p.many == nil {
		return rs.classify(method, p.one, anyMethod)
	}
	var best OperationRule
	covered, pathOnly := 0, 0
	for _, reading := range p.many {
		r, c := rs.classify(method, reading, anyMethod)
		switch c {
		case Covered:
			if covered == 0 || r.MaxAge < best.MaxAge {
				best = r
			}
			covered++
		case PathOnly:
			pathOnly++
		}
	}
	switch {
	case covered == len(p.many):
		return best, Covered
	case covered > 0:
		return best, Ambiguous
	case pathOnly > 0:
		return best, PathOnly
	}
	return best, NotCovered
}

// On says whether the path is route (normalised, see CleanPath) under every reading
// (Covered), none (NotCovered) or only some (Ambiguous).
func (p RequestPath) On(route string) Coverage {
	if p.long {
		return Ambiguous
	}
	c := p.onReadings(route)
	if c == NotCovered && slices.Contains(p.bareReadings(), route) {
		return Ambiguous
	}
	return c
}

// onReadings is On over the readings but the bare ones.
func (p RequestPath) onReadings(route string) Coverage {
	if p.many == nil {
		if p.one == route {
			return Covered
		}
		return NotCovered
	}
	n := 0
	for _, reading := range p.many {
		if reading == route {
			n++
		}
	}
	switch n {
	case 0:
		return NotCovered
	case len(p.many):
		return Covered
	}
	return Ambiguous
}

// PathReadings returns the paths a console could route a raw (escaped) request path
// to, each normalised (lower case, repeated slashes merged, no trailing slash): the
// path percent-decoded once, twice (where "%25" is in it) or not at all, or decoded
// but for encoded separators ("%2f", "%5c", which some routers keep inside one
// segment); with IIS's "%uXXXX" escapes decoded or not; cut at a decoded NUL (C
// strings) or not; NFKC-normalised ("ｐａｙ" as "pay", as servers that map
// compatibility characters read it) or not; with backslashes read as separators or
// not; with ";" parameters dropped from each segment or kept; with dot segments
// resolved or kept; with the last segment's suffix (".json", a trailing "." or
// space) dropped or kept. Case, repeated slashes and a trailing slash are normalised
// in every reading, so they never make readings differ.
func PathReadings(escapedPath string) []string {
	many, bare := readAll(escapedPath)
	return append(many, bare...)
}

// readAll is PathReadings with the readings without a suffix apart (bare: only those
// that are not readings already).
func readAll(escapedPath string) (many, bare []string) {
	many, bare = readings(escapedPath)
	if u, ok := decodeUnicodeEscapes(escapedPath); ok {
		// The "%uXXXX" reading is read every other way too: an escaped reading.
		um, ub := readings(u)
		for _, r := range um {
			if !slices.Contains(many, r) {
				many = append(many, r)
			}
		}
		bare = append(bare, ub...)
	}
	bare = slices.DeleteFunc(bare, func(b string) bool { return slices.Contains(many, b) })
	return many, bare
}

// readings is readAll without the "%uXXXX" reading.
func readings(escapedPath string) (out, bare []string) {
	bases := []string{escapedPath, decodeExceptSeparators(escapedPath)}
	if d, err := url.PathUnescape(escapedPath); err == nil {
		bases = append(bases, d)
		if strings.Contains(strings.ToLower(escapedPath), "%25") {
			if dd, err := url.PathUnescape(d); err == nil {
				bases = append(bases, dd)
			}
		}
	}
	// Cut at a NUL first, then NFKC over every base, cut ones too: the readings
	// compose (a full-width name and a NUL in one path).
	for _, b := range bases {
		if i := strings.IndexByte(b, 0); i >= 0 {
			bases = append(bases, b[:i])
		}
	}
	for _, b := range bases {
		if k := norm.NFKC.String(b); k != b {
			bases = append(bases, k)
		}
	}
	// Lower case once per base, not once per reading: it is the costly step on a
	// long path beyond ASCII, and nothing below depends on case.
	lowered := bases[:0]
	for _, b := range bases {
		if b = LowerCase(b); !slices.Contains(lowered, b) {
			lowered = append(lowered, b)
		}
	}
	bases = lowered
	add := func(p string) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
		if b, ok := withoutSuffix(p); ok && !slices.Contains(bare, b) {
			bare = append(bare, b)
		}
	}
	for _, b := range bases {
		for _, bs := range variants(b, strings.Contains(b, `\`), func(s string) string { return strings.ReplaceAll(s, `\`, "/") }) {
			for _, pp := range variants(bs, strings.Contains(bs, ";"), dropParams) {
				add(tidy(pp, true))
				add(tidy(pp, false))
			}
		}
	}
	return out, bare
}

// withoutSuffix is a normalised path with its last segment cut at its first '.' (not
// a leading one) and trailing spaces dropped: Spring MVC's suffix matching routes
// "/billing/pay.json" and "/billing/pay.x.y" to "/billing/pay", and Windows servers
// drop trailing dots and spaces. It reports false when there is nothing to cut.
func withoutSuffix(p string) (string, bool) {
	seg := p[strings.LastIndexByte(p, '/')+1:]
	end := len(strings.TrimRight(seg, " "))
	if i := strings.IndexByte(seg[:end], '.'); i > 0 {
		end = i
	}
	if end == len(seg) || end == 0 {
		return "", false
	}
	return tidy(p[:len(p)-len(seg)+end], false), true
}

// decodeUnicodeEscapes decodes IIS's "%uXXXX" escapes (classic ASP.NET reads
// "%u002f" as "/"), leaving the rest as it is; ok is false when there are none.
func decodeUnicodeEscapes(p string) (string, bool) {
	var b strings.Builder
	found := false
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+6 <= len(p) && (p[i+1] == 'u' || p[i+1] == 'U') {
			if v, err := strconv.ParseUint(p[i+2:i+6], 16, 16); err == nil {
				b.WriteString(url.PathEscape(string(rune(v))))
				i += 5
				found = true
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String(), found
}

// variants is s, and f(s) when apply.
func variants(s string, apply bool, f func(string) string) []string {
	if !apply {
		return []string{s}
	}
	return []string{s, f(s)}
}

// plainPath reports whether an escaped path has only one reading: no escapes, no
// backslashes, no ";" parameters, no dot segments, nothing beyond ASCII, no NUL.
func plainPath(p string) bool {
	if strings.ContainsAny(p, `%\;`) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf || p[i] == 0 {
			return false // raw (unescaped) letters beyond ASCII, or a NUL: read every way
		}
		if p[i] != '.' || (i > 0 && p[i-1] != '/') {
			continue
		}
		// a segment starting with "." at i: "." or ".." alone is a dot segment
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return false
		}
	}
	return true
}

// normalize is one reading of a path as rules match it: lower case, leading slash,
// repeated slashes merged, dot segments resolved when resolveDots, no trailing slash
// (but "/").
func normalize(p string, resolveDots bool) string { return tidy(LowerCase(p), resolveDots) }

// tidy is normalize for a path in lower case already.
func tidy(p string, resolveDots bool) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if resolveDots {
		p = path.Clean(p)
	} else {
		for strings.Contains(p, "//") {
			p = strings.ReplaceAll(p, "//", "/")
		}
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// decodeExceptSeparators percent-decodes p but for encoded "/" and "\", which stay
// encoded (lower case): the reading of routers that split on "/" first.
func decodeExceptSeparators(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		hex := strings.ToLower(p[i+1 : i+3])
		if hex == "2f" || hex == "5c" {
			b.WriteString("%" + hex)
			i += 2
			continue
		}
		if c, err := url.PathUnescape(p[i : i+3]); err == nil {
			b.WriteString(c)
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// dropParams removes ";..." from each segment, as Tomcat and Spring do.
func dropParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		s, _, _ = strings.Cut(s, ";")
		segs[i] = s
	}
	return strings.Join(segs, "/")
}
