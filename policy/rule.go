package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// An OperationRule names sensitive operations: requests whose path matches one of
// Paths and whose method is one of Methods need a second factor that passed no longer
// ago than MaxAge.
type OperationRule struct {
	// Name is shown to the user on the challenge page ("instance changes").
	Name string
	// Paths are patterns with Caddy's path-matcher semantics: exact ("/billing/pay"),
	// prefix ("/api/instances/*"), suffix ("*/delete"), substring ("*delete*") or a
	// glob ("/api/*/delete"). Matching is case-insensitive, on every reading of the
	// request path a console could make (see Rules.Classify), with or without a
	// trailing slash.
	Paths []string
	// Methods are the HTTP methods that make the request sensitive, compared
	// case-insensitively; GET covers HEAD too. Empty means all.
	Methods []string
	// MaxAge is how recent the second factor must be.
	MaxAge time.Duration
	// Description says more on the challenge page ("Deleting an instance cannot be
	// undone."); empty for none.
	Description string
}

// CheckPathPattern reports why p cannot be used as a rule path, or nil.
func CheckPathPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path pattern")
	case p != "*" && !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*"):
		return fmt.Errorf("path pattern %q must start with / or *", p)
	case strings.ContainsAny(p, "%{}") || strings.Contains(p, "//"):
		return fmt.Errorf("path pattern %q: escape sequences, placeholders and // are not supported", p)
	}
	if _, err := path.Match(LowerCase(p), "/"); err != nil {
		return fmt.Errorf("path pattern %q: %v", p, err)
	}
	return nil
}

// Matches reports whether a request with this method and decoded path is covered by
// the rule.
func (r OperationRule) Matches(method, reqPath string) bool {
	return r.coversMethod(method) && r.coversPath(normalize(reqPath, true))
}

// EffectiveMethods are the methods the rule covers, upper case: its Methods, and
// HEAD where it names GET (many frameworks answer HEAD with their GET handler).
// Empty means every method.
func (r OperationRule) EffectiveMethods() []string {
	var out []string
	for _, m := range r.Methods {
		out = append(out, strings.ToUpper(m))
	}
	if slices.Contains(out, "GET") && !slices.Contains(out, "HEAD") {
		out = append(out, "HEAD")
	}
	return out
}

// coversMethod compares methods case-insensitively, and lets a rule naming GET cover HEAD.
func (r OperationRule) coversMethod(method string) bool {
	if len(r.Methods) == 0 {
		return true
	}
	for _, m := range r.Methods {
		if strings.EqualFold(m, method) || strings.EqualFold(method, "HEAD") && strings.EqualFold(m, "GET") {
			return true
		}
	}
	return false
}

// coversPath matches a normalised path (see normalize) against the rule's patterns.
func (r OperationRule) coversPath(p string) bool {
	for _, pat := range r.Paths {
		if matchPath(LowerCase(pat), p) {
			return true
		}
	}
	return false
}

// Rules is the list of a site's operation rules.
type Rules []OperationRule

// Match returns the rule that covers a request with this method and decoded path.
// When several do, the strictest (smallest MaxAge) wins, so adding a rule can never
// weaken another.
func (rs Rules) Match(method, reqPath string) (OperationRule, bool) {
	r, c := rs.classify(method, normalize(reqPath, true), false)
	return r, c == Covered
}

// classify answers Classify for one reading of the path.
func (rs Rules) classify(method, p string, anyMethod bool) (OperationRule, Coverage) {
	var best OperationRule
	cov := NotCovered
	for _, r := range rs {
		if !r.coversPath(p) {
			continue
		}
		if !anyMethod && !r.coversMethod(method) {
			if cov == NotCovered {
				cov = PathOnly
			}
			continue
		}
		if cov != Covered || r.MaxAge < best.MaxAge {
			best, cov = r, Covered
		}
	}
	return best, cov
}

// CleanPath is a request path as rules and routes are matched against: lower case,
// repeated slashes merged, dot segments resolved, no trailing slash (but "/").
func CleanPath(p string) string { return normalize(p, true) }

// matchPath matches a lower-case pattern against a normalised path the way Caddy's
// MatchPath does, where a pattern that ends in "/" also matches the path without it
// (the path has no trailing slash; consoles read "/a/" and "/a" alike).
func matchPath(pattern, p string) bool {
	if pattern == "*" {
		return true
	}
	switch n := strings.Count(pattern, "*"); {
	case n == 2 && strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		x := pattern[1 : len(pattern)-1]
		return strings.Contains(p, x) || (strings.HasSuffix(x, "/") && strings.HasSuffix(p, x[:len(x)-1]))
	case n == 1 && strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(p, strings.TrimSuffix(pattern[1:], "/"))
	case n == 1 && strings.HasSuffix(pattern, "*"):
		x := pattern[:len(pattern)-1]
		return strings.HasPrefix(p, x) || (len(p)+1 == len(x) && x[len(x)-1] == '/' && strings.HasPrefix(x, p))
	}
	if len(pattern) > 1 {
		pattern = strings.TrimSuffix(pattern, "/")
	}
	if !strings.ContainsAny(pattern, "*?[\\") {
		return pattern == p
	}
	ok, _ := path.Match(pattern, p)
	return ok
}
