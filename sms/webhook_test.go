package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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
	if err := w.Send(context.Background(), "+15551234567", "Example Console verification code: 123456."); err != nil {
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
	if len(body) != 2 || body["to"] != "+15551234567" || body["message"] != "Example Console verification code: 123456." {
		t.Errorf("body = %s", got.Body)
	}
	// The configuration itself keeps the placeholders.
	if !strings.Contains(w.Headers["Authorization"], "{env.") {
		t.Error("Provision rewrote the configured header")
	}
}

func TestWebhookFailure(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusFound} {
		srv := newRecorder(t, status, `{"error":"number blocked"}`+strings.Repeat(" pad", 2000))
		w := &Webhook{URL: srv.URL + "/send", Headers: map[string]string{"Authorization": "Bearer tok-XYZ"}}
		if err := provision(t, w); err != nil {
			t.Fatal(err)
		}
		err := w.Send(context.Background(), "+15551234567", "code")
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
	err := w.Send(context.Background(), "+15551234567", "code")
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
	if err := w.Send(context.Background(), "+15551234567", "code"); !errorsAs(err, &se) || se.Status != 0 {
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
