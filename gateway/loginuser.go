package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/caddy-stepup/stepup/policy"
)

// loginUser reads who a console login names when the gateway has no better source
// (no "who am I" URL, no user header): from the query string and the body, read the
// way the strictest common framework would. Whatever another framework could read
// differently is refused before the login reaches the console: the user field more
// than once in any spelling of its name (letter case, Unicode case folding, PHP-style
// "field[]"), in the query or the body, as form, multipart or JSON; duplicate JSON
// keys at any depth; a body whose content type the gateway cannot read, or that says
// one type and looks like another. The error says why, for the log.
func loginUser(contentType, rawQuery string, body []byte, field string) (string, error) {
	want := foldKey(field)
	var names []string
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("query string cannot be read: %v", err)
	}
	for k, vs := range query {
		if sameField(k, want) {
			names = append(names, vs...)
		}
	}
	fromBody, err := bodyUsers(contentType, body, want)
	if err != nil {
		return "", err
	}
	names = append(names, fromBody...)
	switch {
	case len(names) == 0:
		return "", fmt.Errorf("no %q field", field)
	case len(names) > 1:
		return "", fmt.Errorf("the %q field is given %d times", field, len(names))
	}
	user := policy.CanonicalUser(names[0])
	if user == "" {
		return "", errors.New("the user's name cannot be read")
	}
	return user, nil
}

// bodyUsers returns every value the body gives the field (folded name want).
func bodyUsers(contentType string, body []byte, want string) ([]string, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		return nil, fmt.Errorf("body with an unreadable content type %q", contentType)
	}
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if looksJSON := trimmed[0] == '{' || trimmed[0] == '['; looksJSON != isJSON {
		// Consoles that sniff would read it as JSON; others as what it says.
		return nil, fmt.Errorf("body looks like %s but is sent as %s", map[bool]string{true: "JSON", false: "a form"}[looksJSON], mt)
	}
	switch {
	case isJSON:
		return jsonUsers(body, want)
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("form body cannot be read: %v", err)
		}
		var out []string
		for k, vs := range form {
			if sameField(k, want) {
				out = append(out, vs...)
			}
		}
		return out, nil
	case mt == "multipart/form-data":
		return multipartUsers(body, params["boundary"], want)
	}
	return nil, fmt.Errorf("body of content type %s cannot be read", mt)
}

// maxJSONDepth bounds nesting in a login body.
const maxJSONDepth = 32

// jsonUsers returns the string values of every top-level key that names the field,
// refusing duplicate keys (compared folded) in any object and anything but one JSON
// object in valid UTF-8.
func jsonUsers(body []byte, want string) ([]string, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("JSON body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("JSON body is not an object")
	}
	var out []string
	if err := jsonObject(dec, 1, func(key string) error {
		if !sameField(key, want) {
			return jsonValue(dec, 1)
		}
		var s string
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("JSON %q is not a string", key)
		}
		out = append(out, s)
		return nil
	}); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("JSON body has more than one value")
	}
	return out, nil
}

// jsonObject reads the members of an object whose '{' was read, calling member for
// each key (which must read the value), and the closing '}'.
func jsonObject(dec *json.Decoder, depth int, member func(key string) error) error {
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("JSON body cannot be read: %v", err)
		}
		key, _ := t.(string)
		k := foldKey(key)
		if seen[k] {
			return fmt.Errorf("JSON key %q appears twice", key)
		}
		seen[k] = true
		if err := member(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("JSON body cannot be read: %v", err)
	}
	return nil
}

// jsonValue reads one value, checking the objects within it for duplicate keys.
func jsonValue(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("JSON body nested too deeply")
	}
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("JSON body cannot be read: %v", err)
	}
	switch t {
	case json.Delim('{'):
		return jsonObject(dec, depth+1, func(string) error { return jsonValue(dec, depth+1) })
	case json.Delim('['):
		for dec.More() {
			if err := jsonValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

// multipartUsers returns the values of every part that names the field.
func multipartUsers(body []byte, boundary, want string) ([]string, error) {
	if boundary == "" {
		return nil, errors.New("multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart body cannot be read: %v", err)
		}
		if sameField(p.FormName(), want) {
			v, err := io.ReadAll(p)
			if err != nil {
				return nil, fmt.Errorf("multipart body cannot be read: %v", err)
			}
			out = append(out, string(v))
		}
	}
}

// foldKey is a field name as the most lenient framework compares it: NFKC, case
// folded (ı and İ as i too: policy.LowerCase), without surrounding space, with PHP's
// "." and " " read as "_".
func foldKey(k string) string {
	k = strings.TrimSpace(norm.NFKC.String(strings.ToLower(cases.Fold().String(policy.LowerCase(norm.NFKC.String(k))))))
	return strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, k)
}

// sameField reports whether key names the field whose folded name is want, also as
// a PHP or Rails array ("username[]", "username[0]").
func sameField(key, want string) bool {
	k := foldKey(key)
	return k == want || strings.HasPrefix(k, want+"[")
}
