package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// overrideHeaders are the method-override headers frameworks read (canonical keys).
var overrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// rewriteHeaders name another path than the request's; some frameworks route on them
// (Symfony behind trusted proxies, IIS URL Rewrite).
var rewriteHeaders = []string{"X-Original-Url", "X-Rewrite-Url"}

// methodField is the form, query or JSON field of Rails- and Laravel-style overrides,
// as foldKey spells it.
var methodField = foldKey("_method")

// methodOverridden reports whether r carries a signal some framework reads as
// another method than r.Method: an override header, or a _method field in the query
// or the body (form, multipart, or JSON, also when the content type says otherwise).
// The body is read up to limit bytes and given back to r; a larger one counts as an
// override when a framework would parse it (a form, JSON, or something that looks
// like JSON), since its end cannot be seen.
func methodOverridden(r *http.Request, limit int64) bool {
	for _, k := range overrideHeaders {
		if _, ok := r.Header[k]; ok {
			return true
		}
	}
	if queryHasField(r.URL.RawQuery, methodField) {
		return true
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil {
		return true
	}
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if int64(len(head)) > limit {
		return parsedByFrameworks(mt) || looksJSON(head)
	}
	return bodyHasField(mt, params["boundary"], head, methodField)
}

// queryHasField reports whether a query string (split on "&" or ";") has the field.
func queryHasField(raw, want string) bool {
	if raw == "" {
		return false
	}
	for pair := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if sameField(k, want) {
			return true
		}
	}
	return false
}

// bodyHasField reports whether any common reading of the body has the field: as JSON
// (when it looks like JSON, whatever the content type), as a form, as multipart.
func bodyHasField(mt, boundary string, body []byte, want string) bool {
	if looksJSON(body) && jsonHasKey(body, want) {
		return true
	}
	if queryHasField(string(body), want) {
		return true
	}
	if mt == "multipart/form-data" && boundary != "" {
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		for {
			p, err := mr.NextPart()
			if err != nil {
				return err != io.EOF // unreadable: assume the worst
			}
			if sameField(p.FormName(), want) {
				return true
			}
		}
	}
	return false
}

// jsonHasKey reports whether a JSON object has the key at its top level; a body that
// cannot be read to the end counts as having it.
func jsonHasKey(body []byte, want string) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		if k, _ := t.(string); sameField(k, want) {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return true
		}
	}
	return false
}

func looksJSON(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// parsedByFrameworks reports whether frameworks parse bodies of this media type into
// fields.
func parsedByFrameworks(mt string) bool {
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" ||
		mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == ""
}
