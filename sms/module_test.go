package sms

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestModulesRegistered(t *testing.T) {
	for _, id := range []string{"stepup.sms.webhook", "stepup.sms.twilio", "stepup.sms.log"} {
		mi, err := caddy.GetModule(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := mi.New().(Provider); !ok {
			t.Errorf("%s is not a Provider", id)
		}
	}
}

// host is how the gateway's handler holds a provider: a raw JSON field in the
// stepup.sms namespace with the module name under "provider", loaded in Provision.
type host struct {
	ProviderRaw json.RawMessage `json:"sms,omitempty" caddy:"namespace=stepup.sms inline_key=provider"`
}

func TestLoadModuleFromJSON(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, "")
	var h host
	if err := json.Unmarshal([]byte(`{"sms":{"provider":"webhook","url":"`+srv.URL+`/send","timeout":"2s"}}`), &h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mod, err := ctx.LoadModule(&h, "ProviderRaw")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := mod.(Provider)
	if !ok {
		t.Fatalf("loaded %T", mod)
	}
	if err := p.Send(context.Background(), message("+15551234567", "hi")); err != nil {
		t.Fatal(err)
	}
	if got := srv.only(t); got.Path != "/send" {
		t.Errorf("path %s", got.Path)
	}

	// A bad configuration fails at load time (Provision and Validate run).
	h = host{ProviderRaw: json.RawMessage(`{"provider":"twilio","account_sid":"AC1"}`)}
	if _, err := ctx.LoadModule(&h, "ProviderRaw"); err == nil {
		t.Error("twilio without a token loaded")
	}
}
