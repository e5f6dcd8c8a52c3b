package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// LowerCase is s in lower case as a console that ignores case reads it: strings.ToLower,
// and the letters outside ASCII that such a console takes for ASCII ones as those
// (foldASCII). Paths, cookie names and the like are compared in this form.
func LowerCase(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.Map(lowerRune, s)
		}
	}
	return s // the common case, in one pass
}

// foldASCII maps the four letters outside ASCII whose simple upper or lower case is an
// ASCII letter to that letter in lower case: ı (U+0131, upper I) and İ (U+0130, lower
// i) to i, ſ (U+017F, upper S) to s, and the Kelvin sign (U+212A, lower k) to k.
// Comparisons that ignore case through upper and lower case (Java's equalsIgnoreCase,
// SQL collations such as utf8mb4_general_ci, some routers) read "admınistrator" as
// "administrator" and "/api/ınstances" as "/api/instances"; Unicode case folding and
// strings.ToLower do not. The gateway reads names and paths the way such a console
// would, so an attacker cannot spell a user or an operation past it.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(foldASCIIRune, s)
		}
	}
	return s
}

// lowerRune is unicode.ToLower, then foldASCIIRune: strings.ToLower and foldASCII
// in one pass.
func lowerRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return foldASCIIRune(unicode.ToLower(r))
}

func foldASCIIRune(r rune) rune {
	switch r {
	case 'ı', 'İ':
		return 'i'
	case 'ſ':
		return 's'
	case '\u212a': // KELVIN SIGN
		return 'k'
	}
	return r
}
