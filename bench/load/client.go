package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
)

// httpClient is for the setup steps only: no cookie jar (cookies are passed by hand),
// no redirects followed, loopback only.
var httpClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
}

func do(ctx context.Context, method, rawURL string, body io.Reader, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

func cookieOf(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

var (
	secretRE = regexp.MustCompile(`id="bind-secret">\s*([A-Z2-7 ]+?)\s*<`)
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// obtainCredentials signs in as benchUser through the stepup server at addr and
// passes a step-up challenge by binding TOTP, as a browser user would, and returns
// the Cookie header value carrying the gateway session, the step-up token and the
// console's session cookie.
func obtainCredentials(ctx context.Context, addr string) (string, error) {
	base := "http://" + addr

	// 1. The console's login, watched by the gateway: a 303 from the console starts a
	// gateway session.
	resp, body, err := do(ctx, http.MethodPost, base+"/login",
		strings.NewReader(url.Values{"username": {benchUser}, "password": {"bench"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	session := cookieOf(resp, "stepup_session")
	if resp.StatusCode != http.StatusSeeOther || session == "" {
		return "", fmt.Errorf("login: status %d, stepup_session %q: %.200s", resp.StatusCode, session, body)
	}
	sessionCookie := "stepup_session=" + session
	console := consoleCookie + "=" + cookieOf(resp, consoleCookie)

	// 2. A protected operation without a step-up token: an RFC 9470 challenge, with
	// binding required since the user has no authenticator yet.
	resp, body, err = do(ctx, http.MethodDelete, base+protectedPath, nil,
		map[string]string{"Accept": "application/json", "Cookie": sessionCookie})
	if err != nil {
		return "", fmt.Errorf("protected operation: %w", err)
	}
	var ch struct {
		ChallengeID  string `json:"challenge_id"`
		ChallengeURL string `json:"challenge_url"`
		VerifyURL    string `json:"verify_url"`
		BindRequired bool   `json:"bind_required"`
	}
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &ch) != nil || ch.ChallengeID == "" || !ch.BindRequired {
		return "", fmt.Errorf("protected operation without a token: want 401 with a binding challenge, got %d: %.300s", resp.StatusCode, body)
	}
	chURL := ch.ChallengeURL
	if chURL == "" {
		chURL = "/.stepup/challenge/" + ch.ChallengeID
	}
	if !strings.HasPrefix(chURL, "/") {
		return "", fmt.Errorf("unexpected challenge_url %q", chURL)
	}

	// 3. The challenge page: the binding page, with the secret and the form's token.
	resp, body, err = do(ctx, http.MethodGet, base+chURL, nil,
		map[string]string{"Accept": "text/html", "Cookie": sessionCookie})
	if err != nil {
		return "", fmt.Errorf("binding page: %w", err)
	}
	sm, cm := secretRE.FindSubmatch(body), csrfRE.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || sm == nil || cm == nil {
		return "", fmt.Errorf("binding page: status %d, secret found %v, csrf found %v", resp.StatusCode, sm != nil, cm != nil)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(string(sm[1]), " ", ""))
	if err != nil {
		return "", fmt.Errorf("binding page: secret: %w", err)
	}

	// 4. Two consecutive codes, as an authenticator app would show them.
	now := time.Now()
	form := url.Values{
		"csrf":  {html.UnescapeString(string(cm[1]))},
		"code1": {challenge.TOTPCode(secret, now.Add(-30*time.Second))},
		"code2": {challenge.TOTPCode(secret, now)},
	}
	resp, body, err = do(ctx, http.MethodPost, base+chURL, strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded",
		"Origin":       base,
		"Cookie":       sessionCookie,
	})
	if err != nil {
		return "", fmt.Errorf("binding: %w", err)
	}
	tok := cookieOf(resp, "stepup_token")
	if resp.StatusCode != http.StatusSeeOther || tok == "" {
		return "", fmt.Errorf("binding: want 303 with stepup_token, got %d (token %v): %.300s", resp.StatusCode, tok != "", body)
	}
	return sessionCookie + "; stepup_token=" + tok + "; " + console, nil
}
