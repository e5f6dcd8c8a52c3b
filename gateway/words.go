package gateway

import (
	"github.com/caddy-stepup/stepup/locale"
)

// words is something the gateway says to people: a catalog message (locale/catalog)
// and its arguments, said in the reader's language only when the answer is written,
// so one error reads in Chinese on a page and in English in the API's
// error_description. An argument may itself be words (a reason, "in 3 minutes").
type words struct {
	id   string
	args []any
}

// say is catalog message id with args as name/value pairs ("Count", 3).
func say(id string, args ...any) words { return words{id: id, args: args} }

// in says w in language l; the zero words says nothing.
func (w words) in(l *locale.Lang) string {
	if w.id == "" {
		return ""
	}
	args := append([]any(nil), w.args...)
	for i := 1; i < len(args); i += 2 {
		if nested, ok := args[i].(words); ok {
			args[i] = nested.in(l)
		}
	}
	return l.Text(w.id, args...)
}

// english is w for developers: the API's error_description and the log.
func (w words) english() string { return w.in(locale.English) }
