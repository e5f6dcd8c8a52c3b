package adversarial

import (
	"maps"
	"slices"
	"strings"
)

// consoleRequest is one request as a test console received it, from its
// /__requests endpoint.
type consoleRequest struct {
	Method string              `json:"method"` // as received, not upper-cased
	Target string              `json:"target"` // raw request target as received, path+query
	Header map[string][]string `json:"header"` // names as received
	Body   string              `json:"body"`   // decoded as UTF-8, invalid bytes replaced
}

// HeaderValues returns the values of every header field named name, compared
// case-insensitively, since a console records names as they were received
// (fields spelled differently come in the sorted order of their spellings).
func (r consoleRequest) HeaderValues(name string) []string {
	var values []string
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		if strings.EqualFold(k, name) {
			values = append(values, r.Header[k]...)
		}
	}
	return values
}

// consoleState is what a test console has done, from its /__state endpoint.
type consoleState struct {
	Instances []string   `json:"instances"` // ids still present, sorted
	Deleted   []deletion `json:"deleted"`
	Payments  []payment  `json:"payments"`
	Logins    []string   `json:"logins"` // canonical user names, in order, of every successful login
}

// deletion is one deleted instance and the console user who deleted it.
type deletion struct {
	ID string `json:"id"`
	By string `json:"by"`
}

// payment is one payment and the console user who made it.
type payment struct {
	By string `json:"by"`
}
