package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// maxUserName bounds a user's name in bytes; a longer one is refused as unreadable.
const maxUserName = 256

// CanonicalUser is the one spelling of a user's name that everything is keyed by:
// policy lists, store records and tokens. It is the name NFKC-normalised and
// case-folded, without surrounding space, so "BOB", " Bob " and "ｂｏｂ" are one user,
// as they are to consoles that fold names. The trade-off: in a console whose names
// are case-sensitive, "Bob" and "bob" share one second-factor record.
//
// The letters that upper- or lower-case to ASCII ones (ı, İ, ſ, the Kelvin sign) are
// those ASCII letters (foldASCII): "admınistrator" is administrator, as it is to a
// console comparing names with Java's equalsIgnoreCase or a case-blind SQL collation.
//
// It returns "" for a name that cannot be a user's: empty, too long, not UTF-8, or
// holding control characters. Callers treat "" as nobody.
func CanonicalUser(name string) string {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxUserName || !utf8.ValidString(name) {
		return ""
	}
	if plainLower(name) {
		return name // the common case, without allocating
	}
	// Full case folding, lower case and NFKC, until nothing changes: a few scripts
	// (Cherokee) fold to upper case, and one round may undo another's work.
	folded := name
	for range 4 {
		next := norm.NFKC.String(strings.ToLower(cases.Fold().String(foldASCII(norm.NFKC.String(folded)))))
		if next == folded {
			folded = strings.TrimSpace(folded)
			if folded == "" || strings.IndexFunc(folded, unicode.IsControl) >= 0 {
				return ""
			}
			return folded
		}
		folded = next
	}
	return "" // no stable spelling: refuse rather than guess
}

// SameUser reports whether two names are one user.
func SameUser(a, b string) bool {
	ca := CanonicalUser(a)
	return ca != "" && ca == CanonicalUser(b)
}

// plainLower reports whether s is already canonical: lower-case ASCII letters,
// digits and common punctuation only.
func plainLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c < 0x21 || c == 0x7f || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
