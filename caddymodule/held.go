package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
)

var errTooLarge = errors.New("request body over the limit")

// heldRequest is a sensitive browser form post kept while its sender passes the
// challenge, then replayed to the console as if it had just arrived.
type heldRequest struct {
	Method      string `json:"method"`
	URI         string `json:"uri"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// holdRequest reads r's body, at most limit bytes.
func holdRequest(r *http.Request, limit int64) (*heldRequest, error) {
	body, err := readBounded(r.Body, limit)
	if err != nil {
		return nil, err
	}
	return &heldRequest{Method: r.Method, URI: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body}, nil
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

func (h *Handler) saveHeld(r *http.Request, ch challenge.Challenge, held *heldRequest) error {
	b, err := json.Marshal(held)
	if err != nil {
		return err
	}
	return h.challenges.Hold(r.Context(), ch, b)
}

// takeHeld returns the request held for a passed challenge, once; nil when there is none.
func (h *Handler) takeHeld(r *http.Request, p challenge.Passed) (*heldRequest, error) {
	b, err := h.challenges.TakeHeld(r.Context(), p)
	if err != nil || b == nil {
		return nil, err
	}
	var held heldRequest
	if err := json.Unmarshal(b, &held); err != nil {
		return nil, err
	}
	return &held, nil
}

// replay sends the held request to the console with the cookies of the request that
// passed the challenge (same browser, now with a step-up token) and writes the
// console's answer.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, held *heldRequest) error {
	rr := r.Clone(r.Context())
	u, err := r.URL.Parse(held.URI)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	rr.Method = held.Method
	rr.URL = u
	rr.RequestURI = held.URI
	rr.Body = io.NopCloser(bytes.NewReader(held.Body))
	rr.ContentLength = int64(len(held.Body))
	rr.Header.Del("Content-Length")
	rr.Header.Del("Content-Type")
	if held.ContentType != "" {
		rr.Header.Set("Content-Type", held.ContentType)
	}
	return toConsole(w, rr, next)
}

// heldResponse is the console's successful login answer, kept whole while its user
// passes the second factor, then released exactly as the console sent it.
type heldResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

func (h *Handler) saveHeldResponse(r *http.Request, ch challenge.Challenge, c *loginCapture) error {
	b, err := json.Marshal(heldResponse{Status: c.status, Header: c.header, Body: c.buf.Bytes()})
	if err != nil {
		return err
	}
	return h.challenges.Hold(r.Context(), ch, b)
}

// takeHeldResponse returns the login answer held for a challenge, once; nil when it
// has expired or was already released.
func (h *Handler) takeHeldResponse(r *http.Request, p challenge.Passed) (*heldResponse, error) {
	b, err := h.challenges.TakeHeld(r.Context(), p)
	if err != nil || b == nil {
		return nil, err
	}
	var held heldResponse
	if err := json.Unmarshal(b, &held); err != nil {
		return nil, err
	}
	return &held, nil
}

// releaseLogin completes a held login: the console's answer exactly as it was, plus
// the gateway session cookie, whose auth_time and amr are the second factor's.
func (h *Handler) releaseLogin(w http.ResponseWriter, r *http.Request, p challenge.Passed) error {
	held, err := h.takeHeldResponse(r, p)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if held == nil {
		return h.pageFailure(w, r, caller{User: p.Challenge.User}, p.Challenge.ID, challenge.ErrChallengeEnded)
	}
	cookies, err := h.startSession(r, p.Challenge.User, append([]string{"pwd"}, p.AMR...), p.AuthTime)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	lc := h.cookie(r, loginCookie, "", -1, http.SameSiteLaxMode)
	lc.Path = h.Prefix
	hdr := w.Header()
	for k := range hdr {
		delete(hdr, k) // the gateway's own page headers do not belong on the console's answer
	}
	copyHeader(hdr, held.Header)
	for _, c := range append(cookies, lc) {
		hdr.Add("Set-Cookie", c.String())
	}
	metrics.logins.WithLabelValues("released").Inc()
	h.logger.Info("held console login released", zap.String("user", p.Challenge.User), zap.String("challenge", p.Challenge.ID),
		zap.String("method", string(p.Method)), zap.String("client_ip", clientIP(r)))
	w.WriteHeader(held.Status)
	_, err = w.Write(held.Body)
	return err
}
