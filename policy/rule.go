package policy

import (
	"fmt"
	"path"
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
	// glob ("/api/*/delete"). Matching is case-insensitive, on the cleaned path.
	Paths []string
	// Methods are the HTTP methods that make the request sensitive; empty means all.
	Methods []string
	// MaxAge is how recent the second factor must be.
	MaxAge time.Duration
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
	if _, err := path.Match(strings.ToLower(p), "/"); err != nil {
		return fmt.Errorf("path pattern %q: %v", p, err)
	}
	return nil
}

// Matches reports whether a request with this method and path is covered by the rule.
// path is the request's decoded URL path as received.
func (r OperationRule) Matches(method, reqPath string) bool {
	return r.matches(method, CleanPath(reqPath))
}

func (r OperationRule) matches(method, clean string) bool {
	if len(r.Methods) > 0 && !containsFold(r.Methods, method) {
		return false
	}
	for _, p := range r.Paths {
		if matchPath(strings.ToLower(p), clean) {
			return true
		}
	}
	return false
}

// Rules is the list of a site's operation rules.
type Rules []OperationRule

// Match returns the rule that covers the request. When several do, the strictest
// (smallest MaxAge) wins, so adding a rule can never weaken another.
func (rs Rules) Match(method, reqPath string) (OperationRule, bool) {
	clean := CleanPath(reqPath)
	var best OperationRule
	found := false
	for _, r := range rs {
		if r.matches(method, clean) && (!found || r.MaxAge < best.MaxAge) {
			best, found = r, true
		}
	}
	return best, found
}

// CleanPath is the form of a request path that rules are matched against: lower case,
// doubled slashes merged, dot segments resolved, a trailing slash kept. Like Caddy's
// path matcher, this keeps "/API//Instances/./1" from slipping past "/api/instances/*".
func CleanPath(p string) string {
	p = strings.ToLower(p)
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// matchPath matches a lower-case pattern against a cleaned path the way Caddy's
// MatchPath does.
func matchPath(pattern, p string) bool {
	if pattern == "*" {
		return true
	}
	switch n := strings.Count(pattern, "*"); {
	case n == 2 && strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		return strings.Contains(p, pattern[1:len(pattern)-1])
	case n == 1 && strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(p, pattern[1:])
	case n == 1 && strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(p, pattern[:len(pattern)-1])
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
