package sms

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "twilio-auth-token-0123456789"
)

// twilioCreated is the shape of Twilio's answer to a created message (abridged).
const twilioCreated = `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`

func TestTwilioSend(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tw        Twilio
		wantField string
		wantValue string
	}{
		{"from", Twilio{From: "+15550001111"}, "From", "+15550001111"},
		{"messaging service", Twilio{MessagingServiceSID: "MG0123456789abcdef0123456789abcdef"}, "MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, http.StatusCreated, twilioCreated)
			t.Setenv("TEST_TWILIO_SID", testSID)
			t.Setenv("TEST_TWILIO_TOKEN", testToken)
			tw := tc.tw
			tw.AccountSID = "{env.TEST_TWILIO_SID}"
			tw.AuthToken = "{env.TEST_TWILIO_TOKEN}"
			tw.BaseURL = srv.URL + "/"
			if err := provision(t, &tw); err != nil {
				t.Fatal(err)
			}
			if err := tw.Send(context.Background(), message("+447700900123", "Example Console verification code: 123456.")); err != nil {
				t.Fatal(err)
			}
			got := srv.only(t)
			if got.Method != http.MethodPost || got.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
				t.Errorf("request %s %s", got.Method, got.Path)
			}
			if !got.BasicOK || got.User != testSID || got.Pass != testToken {
				t.Errorf("basic auth %v %q:%q", got.BasicOK, got.User, got.Pass)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			form, err := url.ParseQuery(got.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := url.Values{"To": {"+447700900123"}, "Body": {"Example Console verification code: 123456."}, tc.wantField: {tc.wantValue}}
			if form.Encode() != want.Encode() {
				t.Errorf("form = %v, want %v", form, want)
			}
		})
	}
}

func TestTwilioAccepts200(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, twilioCreated)
	tw := Twilio{AccountSID: testSID, AuthToken: testToken, From: "+15550001111", BaseURL: srv.URL}
	if err := provision(t, &tw); err != nil {
		t.Fatal(err)
	}
	if err := tw.Send(context.Background(), message("+15551234567", "x")); err != nil {
		t.Fatal(err)
	}
}

func TestTwilioError(t *testing.T) {
	// Twilio's error body for an invalid To number.
	const answer = `{"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`
	srv := newRecorder(t, http.StatusBadRequest, answer)
	tw := Twilio{AccountSID: testSID, AuthToken: testToken, From: "+15550001111", BaseURL: srv.URL}
	if err := provision(t, &tw); err != nil {
		t.Fatal(err)
	}
	err := tw.Send(context.Background(), message("+15005550001", "x"))
	wantSendError(t, err, http.StatusBadRequest, "21211", testToken)
	srv.only(t)

	srv = newRecorder(t, http.StatusUnauthorized, `{"code": 20003, "message": "Authenticate", "status": 401}`)
	tw = Twilio{AccountSID: testSID, AuthToken: testToken, From: "+15550001111", BaseURL: srv.URL}
	if err := provision(t, &tw); err != nil {
		t.Fatal(err)
	}
	wantSendError(t, tw.Send(context.Background(), message("+15551234567", "x")), http.StatusUnauthorized, "20003", testToken)
}

func TestTwilioTimeout(t *testing.T) {
	srv := newRecorder(t, http.StatusCreated, twilioCreated)
	srv.delay = 5 * time.Second
	tw := Twilio{AccountSID: testSID, AuthToken: testToken, From: "+15550001111", BaseURL: srv.URL, Timeout: caddy.Duration(200 * time.Millisecond)}
	if err := provision(t, &tw); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := tw.Send(context.Background(), message("+15551234567", "x"))
	var se *SendError
	if !errorsAs(err, &se) || se.Status != 0 || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	if strings.Contains(err.Error(), testToken) {
		t.Error("error leaks the token")
	}
	if srv.count() != 1 {
		t.Errorf("%d requests: retried", srv.count())
	}
}

func TestTwilioDefaultsAndValidate(t *testing.T) {
	tw := Twilio{AccountSID: testSID, AuthToken: testToken, From: "+15550001111"}
	if err := provision(t, &tw); err != nil {
		t.Fatal(err)
	}
	if tw.baseURL != "https://api.twilio.com" || time.Duration(tw.Timeout) != 10*time.Second {
		t.Errorf("defaults: %q %v", tw.baseURL, time.Duration(tw.Timeout))
	}
	for name, tw := range map[string]Twilio{
		"no sid":        {AuthToken: testToken, From: "+1"},
		"sid unset env": {AccountSID: "{env.TEST_SMS_UNSET_VAR}", AuthToken: testToken, From: "+1"},
		"sid with path": {AccountSID: "AC/../x", AuthToken: testToken, From: "+1"},
		"no token":      {AccountSID: testSID, From: "+1"},
		"neither":       {AccountSID: testSID, AuthToken: testToken},
		"both":          {AccountSID: testSID, AuthToken: testToken, From: "+1", MessagingServiceSID: "MG1"},
		"bad base":      {AccountSID: testSID, AuthToken: testToken, From: "+1", BaseURL: "api.twilio.com"},
	} {
		err := provision(t, &tw)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: error leaks the token: %v", name, err)
		}
	}
}

func TestTwilioCaddyfile(t *testing.T) {
	tw := new(Twilio)
	err := tw.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`twilio {
		account_sid {env.TWILIO_ACCOUNT_SID}
		auth_token {env.TWILIO_AUTH_TOKEN}
		from +15550001111
		base_url http://127.0.0.1:9501
		timeout 5s
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Twilio{AccountSID: "{env.TWILIO_ACCOUNT_SID}", AuthToken: "{env.TWILIO_AUTH_TOKEN}", From: "+15550001111", BaseURL: "http://127.0.0.1:9501", Timeout: caddy.Duration(5 * time.Second)}
	if tw.AccountSID != want.AccountSID || tw.AuthToken != want.AuthToken || tw.From != want.From || tw.BaseURL != want.BaseURL || tw.Timeout != want.Timeout || tw.MessagingServiceSID != "" {
		t.Errorf("parsed %+v", tw)
	}
	tw = new(Twilio)
	if err := tw.UnmarshalCaddyfile(caddyfile.NewTestDispenser("twilio {\n account_sid AC1\n auth_token t\n messaging_service_sid MG1\n}")); err != nil || tw.MessagingServiceSID != "MG1" {
		t.Errorf("messaging service: %v %+v", err, tw)
	}
	for input, want := range map[string]string{
		"twilio {\n account_sid AC1\n auth_token t\n from +1\n messaging_service_sid MG1\n}": "Testfile:5",
		"twilio {\n account_sid AC1\n auth_token t\n messaging_service_sid MG1\n from +1\n}": "Testfile:5",
		"twilio {\n account_sid AC1\n auth_token t\n from +1\n sender x\n}":                  "Testfile:5",
		"twilio {\n account_sid AC1\n auth_token t\n}":                                       "from or messaging_service_sid",
		"twilio {\n account_sid AC1\n from +1\n}":                                            "account_sid and auth_token",
		"twilio {\n account_sid AC1\n account_sid AC2\n auth_token t\n from +1\n}":           "given twice",
		"twilio {\n account_sid\n}":                                                          "wrong argument count",
		"twilio extra {\n}":                                                                  "wrong argument count",
		"twilio {\n account_sid AC1\n auth_token t\n from +1\n timeout 0s\n}":                "positive",
		"twilio {\n account_sid AC1\n auth_token t\n from +1 +2\n}":                          "wrong argument count",
	} {
		err := new(Twilio).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", input, err, want)
		}
	}
}
