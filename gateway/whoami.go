package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/policy"
)

// maxWhoAmIAnswer bounds the console's "who am I" answer the gateway reads.
const maxWhoAmIAnswer = 16 << 10

// whoAmI is the console's "who am I" URL: the path (and query) to ask, and the JSON
// field of its answer that holds the user's name (dotted for nested objects; empty:
// the whole body, as text).
type whoAmI struct {
	uri, field string
}

// ask learns who the console signed in: it sends the console, through the rest of
// the route, a GET of its "who am I" URL carrying only the cookies of answer (the
// console's accepted login), and reads the name from the reply. Nothing of the
// browser's request goes with it but the host and client address, so what the
// console says is about the session it just created and nothing else.
func (who whoAmI) ask(r *http.Request, next Next, answer http.Header, now time.Time) (string, error) {
	cookies := sessionCookies(answer, now)
	if cookies == "" {
		return "", errors.New("the console's login answer sets no cookie to ask with")
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, who.uri, nil)
	if err != nil {
		return "", fmt.Errorf("whoami uri: %v", err)
	}
	req.Host, req.RemoteAddr, req.TLS = r.Host, r.RemoteAddr, r.TLS
	req.Proto, req.ProtoMajor, req.ProtoMinor = r.Proto, r.ProtoMajor, r.ProtoMinor
	req.RequestURI = who.uri
	req.Header = http.Header{"Accept": {"application/json"}, "Cookie": {cookies}}
	rec := &answerRecorder{header: make(http.Header)}
	if err := next.ServeHTTP(rec, req); err != nil {
		return "", fmt.Errorf("whoami: %v", err)
	}
	if rec.status < 200 || rec.status > 299 {
		return "", fmt.Errorf("whoami answered %d", rec.status)
	}
	if rec.overflow {
		return "", fmt.Errorf("whoami answer larger than %d bytes", maxWhoAmIAnswer)
	}
	name, err := whoAmIName(rec.body.Bytes(), who.field)
	if err != nil {
		return "", err
	}
	user := policy.CanonicalUser(name)
	if user == "" {
		return "", errors.New("whoami named no readable user")
	}
	return user, nil
}

// whoAmIName takes the name from a "who am I" answer: the JSON field (dotted for
// nested objects), or with no field the whole body as one line of text.
func whoAmIName(body []byte, field string) (string, error) {
	if field == "" {
		name := strings.TrimSpace(string(body))
		if strings.ContainsAny(name, "\r\n") {
			return "", errors.New("whoami answer is more than one line")
		}
		return name, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("whoami answer is not JSON: %v", err)
	}
	for part := range strings.SplitSeq(field, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("whoami answer has no field %q", field)
		}
		if v, ok = obj[part]; !ok {
			return "", fmt.Errorf("whoami answer has no field %q", field)
		}
	}
	name, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("whoami field %q is not a string", field)
	}
	return name, nil
}

// sessionCookies is a Cookie header holding the cookies an answer sets (with a value
// and not being deleted), as a browser would send them next.
func sessionCookies(answer http.Header, now time.Time) string {
	var parts []string
	for _, line := range answer.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Value == "" || c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now)) {
			continue
		}
		parts = append(parts, (&http.Cookie{Name: c.Name, Value: c.Value}).String())
	}
	return strings.Join(parts, "; ")
}

// answerRecorder keeps the console's answer to a request the gateway made itself,
// bounded; informational answers are ignored.
type answerRecorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (a *answerRecorder) Header() http.Header { return a.header }

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 && status >= 200 {
		a.status = status
	}
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if a.body.Len()+len(p) > maxWhoAmIAnswer {
		a.overflow = true
		return len(p), nil
	}
	return a.body.Write(p)
}

// Flush is a no-op: the answer is read whole.
func (a *answerRecorder) Flush() {}
