package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

func TestWebhookSend(t *testing.T) {
	srv := newRecorder(t, http.StatusAccepted, `{"queued":true}`)
	t.Setenv("TEST_SMS_WEBHOOK_TOKEN", "s3cret-token")
	w := &Webhook{
		URL:     srv.URL + "/send?via={env.TEST_SMS_VIA}",
		Headers: map[string]string{"Authorization": "Bearer {env.TEST_SMS_WEBHOOK_TOKEN}", "X-Tenant": "console"},
	}
	t.Setenv("TEST_SMS_VIA", "gw")
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	if time.Duration(w.Timeout) != 10*time.Second {
		t.Errorf("default timeout = %v", time.Duration(w.Timeout))
	}
	msg := challenge.CodeMessage{
		To: "+15551234567", Text: "Example Console verification code: 123456.", Code: "123456",
		Purpose: policy.PurposeLogin, Lang: "en", ExpiresIn: 4*time.Minute + 59500*time.Millisecond,
	}
	if err := w.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.only(t)
	if got.Method != http.MethodPost || got.Path != "/send?via=gw" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	if h := got.Header.Get("Authorization"); h != "Bearer s3cret-token" {
		t.Errorf("Authorization = %q (placeholder not expanded at Provision?)", h)
	}
	if got.Header.Get("X-Tenant") != "console" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", got.Header)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("body %q: %v", got.Body, err)
	}
	want := map[string]any{
		"to": "+15551234567", "message": "Example Console verification code: 123456.", "code": "123456",
		"purpose": "login", "lang": "en", "expires_in_seconds": 299.0, // whole seconds, rounded down
	}
	if !maps.Equal(body, want) {
		t.Errorf("body = %s", got.Body)
	}
	// The configuration itself keeps the placeholders.
	if !strings.Contains(w.Headers["Authorization"], "{env.") {
		t.Error("Provision rewrote the configured header")
	}
}

// The gateway's codes through the webhook, as a relay receives them: the text in the
// reader's language, and beside it the code, the purpose and the language, so a relay
// in front of a mainland provider can send its registered template instead.
func TestWebhookCarriesTheCodesParts(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, "")
	w := &Webhook{URL: srv.URL + "/send"}
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	sealer, err := challenge.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := challenge.New(challenge.Service{Store: mem, Sealer: sealer, SMS: w, Issuer: "示例云控制台", Now: fixedNow, Limits: challenge.Limits{SendsPerIPHour: 100}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// On a clock that stands still, a code lives its whole 5 minutes: on a real one its
	// challenge, begun a moment before, ends first, and the texts say 4 minutes.
	begin := func(user string, purpose policy.Purpose) challenge.Challenge {
		t.Helper()
		c, err := svc.Begin(ctx, challenge.Challenge{User: user, Binding: "b-" + user, Purpose: purpose, Methods: []policy.Method{policy.SMS}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// last is the body of the latest request; it must hold exactly the documented fields.
	last := func() webhookMessage {
		t.Helper()
		srv.mu.Lock()
		raw := srv.reqs[len(srv.reqs)-1].Body
		srv.mu.Unlock()
		var fields map[string]any
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			t.Fatalf("body %q: %v", raw, err)
		}
		if len(fields) != 6 {
			t.Errorf("body has %d fields: %s", len(fields), raw)
		}
		var m webhookMessage
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Code) != 6 || strings.Trim(m.Code, "0123456789") != "" || m.ExpiresIn != 300 {
			t.Errorf("code %q, expires_in_seconds %d", m.Code, m.ExpiresIn)
		}
		return m
	}

	// Binding a phone, from a Chinese page: the Chinese text goes to the new number.
	c := begin("alice", policy.PurposeLogin)
	if _, err := svc.StartPhoneBinding(ctx, c.ID, c.Binding, "+86 138 0013 8000", "192.0.2.1", locale.Chinese); err != nil {
		t.Fatal(err)
	}
	m := last()
	if m.To != "+8613800138000" || m.Purpose != "bind" || m.Lang != "zh-Hans" ||
		m.Message != "【示例云控制台】验证码 "+m.Code+"，用于绑定手机号，5 分钟内有效，请勿泄露给他人。" {
		t.Errorf("binding: %+v", m)
	}
	// The relay's code confirms the number.
	if _, err := svc.ConfirmPhoneBinding(ctx, c.ID, c.Binding, m.Code, "192.0.2.1"); err != nil {
		t.Fatalf("the code the webhook carried: %v", err)
	}

	for _, tc := range []struct {
		purpose policy.Purpose
		lang    *locale.Lang
		want    webhookMessage
	}{
		{policy.PurposeLogin, locale.Chinese, webhookMessage{Purpose: "login", Lang: "zh-Hans", Message: "【示例云控制台】验证码 %s，用于登录，5 分钟内有效，请勿泄露给他人。"}},
		{policy.PurposeOperation, locale.Chinese, webhookMessage{Purpose: "operation", Lang: "zh-Hans", Message: "【示例云控制台】验证码 %s，用于确认操作，5 分钟内有效，请勿泄露给他人。"}},
		{policy.PurposeLogin, locale.English, webhookMessage{Purpose: "login", Lang: "en", Message: "示例云控制台 verification code: %s. It expires in 5 minutes. Use it to sign in. Do not share it."}},
		{policy.PurposeOperation, nil, webhookMessage{Purpose: "operation", Lang: "en", Message: "示例云控制台 verification code: %s. It expires in 5 minutes. Use it to confirm an action. Do not share it."}},
	} {
		c := begin("alice", tc.purpose)
		if _, err := svc.SendSMSCode(ctx, c.ID, c.Binding, "192.0.2.1", tc.lang); err != nil {
			t.Fatal(err)
		}
		m := last()
		want := tc.want
		want.To, want.Code, want.ExpiresIn, want.Message = "+8613800138000", m.Code, 300, fmt.Sprintf(want.Message, m.Code)
		if m != want {
			t.Errorf("%s in %s: got %+v, want %+v", tc.purpose, want.Lang, m, want)
		}
	}
	if n := srv.count(); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// fixedNow is a clock that stands still.
func fixedNow() time.Time { return time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC) }

func TestWebhookFailure(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusFound} {
		srv := newRecorder(t, status, `{"error":"number blocked"}`+strings.Repeat(" pad", 2000))
		w := &Webhook{URL: srv.URL + "/send", Headers: map[string]string{"Authorization": "Bearer tok-XYZ"}}
		if err := provision(t, w); err != nil {
			t.Fatal(err)
		}
		err := w.Send(context.Background(), message("+15551234567", "code"))
		se := wantSendError(t, err, status, `number blocked`, "tok-XYZ")
		if len(se.Detail) > maxDetail+len("…") {
			t.Errorf("detail is %d bytes", len(se.Detail))
		}
		srv.only(t) // sent once, never retried or redirected
	}
}

func TestWebhookTimeout(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, "")
	srv.delay = 5 * time.Second
	w := &Webhook{URL: srv.URL + "/send?key=url-secret", Timeout: caddy.Duration(200 * time.Millisecond)}
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := w.Send(context.Background(), message("+15551234567", "code"))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("send took %v with a 200ms timeout", took)
	}
	var se *SendError
	if !errorsAs(err, &se) || se.Status != 0 || se.Err == nil {
		t.Fatalf("err = %v, want a *SendError without status", err)
	}
	if strings.Contains(err.Error(), "url-secret") {
		t.Errorf("error shows the URL: %v", err)
	}
	if srv.count() != 1 {
		t.Errorf("%d requests: retried", srv.count())
	}
}

func TestWebhookConnectionRefused(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, "")
	url := srv.URL
	srv.Close()
	w := &Webhook{URL: url}
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	var se *SendError
	if err := w.Send(context.Background(), message("+15551234567", "code")); !errorsAs(err, &se) || se.Status != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestWebhookValidate(t *testing.T) {
	for name, w := range map[string]*Webhook{
		"no url":            {},
		"unset env":         {URL: "{env.TEST_SMS_UNSET_VAR}"},
		"relative":          {URL: "/send"},
		"ftp":               {URL: "ftp://example.com/x"},
		"bad header name":   {URL: "http://127.0.0.1/", Headers: map[string]string{"Bad Name": "x"}},
		"header from unset": {URL: "http://127.0.0.1/", Headers: map[string]string{"Authorization": "{env.TEST_SMS_UNSET_VAR}"}},
		"negative timeout":  {URL: "http://127.0.0.1/", Timeout: -1},
	} {
		if err := provision(t, w); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWebhookCaddyfile(t *testing.T) {
	w := new(Webhook)
	err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`webhook https://sms.example.com/send {
		header Authorization "Bearer {env.SMS_TOKEN}"
		header X-Tenant console
		timeout 3s
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if w.URL != "https://sms.example.com/send" || w.Headers["Authorization"] != "Bearer {env.SMS_TOKEN}" || w.Headers["X-Tenant"] != "console" || time.Duration(w.Timeout) != 3*time.Second {
		t.Errorf("parsed %+v", w)
	}
	if err := new(Webhook).UnmarshalCaddyfile(caddyfile.NewTestDispenser(`webhook http://127.0.0.1:9500/send`)); err != nil {
		t.Errorf("no block: %v", err)
	}
	for input, want := range map[string]string{
		"webhook":                                   "needs a URL",
		"webhook {\n\ttimeout 1s\n}":                "needs a URL",
		"webhook http://x/ extra":                   "wrong argument count",
		"webhook http://x/ {\n\tretries 3\n}":       "Testfile:2",
		"webhook http://x/ {\n\theader X-Only\n}":   "header needs a name and a value",
		"webhook http://x/ {\n\ttimeout soon\n}":    "bad duration",
		"webhook http://x/ {\n\ttimeout 1s 2s\n}":   "wrong argument count",
		"webhook http://x/ {\n\n\n\ttimeout -1s\n}": "Testfile:4",
	} {
		err := new(Webhook).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", input, err, want)
		}
	}
}
