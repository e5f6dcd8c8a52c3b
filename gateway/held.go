package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

var errTooLarge = errors.New("request body over the limit")

// heldRequest is a protected browser form post kept while its sender passes the
// challenge, then replayed to the console as if it had just arrived.
type heldRequest struct {
	Method      string `json:"method"`
	URI         string `json:"uri"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// holdRequest reads r's body, at most limit bytes, and encodes r for holding.
func holdRequest(r *http.Request, limit int64) ([]byte, error) {
	body, err := readBounded(r.Body, limit)
	if err != nil {
		return nil, err
	}
	return json.Marshal(heldRequest{Method: r.Method, URI: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body})
}

// readBounded reads all of body if it is at most limit bytes, else errTooLarge.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// replay sends the held request to the console with the cookies of the request that
// passed the challenge (same browser, now with a step-up token) and writes the
// console's answer.
func replay(w http.ResponseWriter, r *http.Request, next Next, held []byte) error {
	var h heldRequest
	if err := json.Unmarshal(held, &h); err != nil {
		return failed(fmt.Errorf("held request is damaged: %w", err))
	}
	u, err := r.URL.Parse(h.URI)
	if err != nil {
		return invalidRequest(say("error.cannotReplay"), err)
	}
	rr := r.Clone(r.Context())
	rr.Method = h.Method
	rr.URL = u
	rr.RequestURI = h.URI
	rr.Body = io.NopCloser(bytes.NewReader(h.Body))
	rr.ContentLength = int64(len(h.Body))
	rr.Header.Del("Content-Length")
	rr.Header.Del("Content-Type")
	if h.ContentType != "" {
		rr.Header.Set("Content-Type", h.ContentType)
	}
	return ToConsole(w, rr, next)
}

// heldResponse is the console's successful login answer, kept whole while its user
// passes the second factor, then released exactly as the console sent it.
type heldResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}
