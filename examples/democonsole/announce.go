package democonsole

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	// announceInterval is how often the announcer tries the URL.
	announceInterval = 250 * time.Millisecond
	// announceTimeout bounds one try.
	announceTimeout = 2 * time.Second
)

// accountNotes say what each demo account shows with the gateway of
// Caddyfile.example in front of the console (its root, admins, default and
// require lines). The console itself knows nothing of the gateway: these
// only go into the announcement.
var accountNotes = map[string]string{
	"alice": "root: operation protection by SMS (her first delete or payment asks for a phone)",
	"bob":   "administrator: login protection required (a second factor at sign-in)",
	"carol": "plain user: operation protection (a second factor for deletes and payments)",
}

// checkAnnounceURL reports whether s can be announced: an absolute http or
// https URL with a host.
func checkAnnounceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("announce: expected an http:// or https:// URL with a host, e.g. http://localhost:8080, got %q", s)
	}
	return nil
}

// account is a demo user as a structured log field.
type account User

// MarshalLogObject implements [zapcore.ObjectMarshaler].
func (a account) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", a.Name)
	enc.AddString("password", a.Password)
	enc.AddString("role", a.Role)
	if note, ok := accountNotes[a.Name]; ok {
		enc.AddString("shows", note)
	}
	return nil
}

// accounts are the demo users as a structured log field.
type accounts []User

// MarshalLogArray implements [zapcore.ArrayMarshaler].
func (as accounts) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, a := range as {
		if err := enc.AppendObject(account(a)); err != nil {
			return err
		}
	}
	return nil
}

// announcer waits, in a goroutine of its own, until a URL answers, then logs
// once that the demo is ready there, with the demo accounts.
type announcer struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// startAnnouncer starts trying target every interval, until it answers (any
// response but a server error: a redirect to a login page is fine) or
// parent is done or the announcer is stopped. It does not block.
func startAnnouncer(parent context.Context, target string, logger *zap.Logger, users []User, interval time.Duration) *announcer {
	ctx, cancel := context.WithCancel(parent)
	a := &announcer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		// No keep-alive: nothing (an idle connection and its goroutines) is left
		// behind once the announcer returns. No proxy: the URL is usually local.
		transport := &http.Transport{DisableKeepAlives: true}
		defer transport.CloseIdleConnections()
		client := &http.Client{
			Transport:     transport,
			Timeout:       announceTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if answers(ctx, client, target) {
				logger.Info("demo ready: open "+target,
					zap.String("url", target),
					zap.Array("accounts", accounts(users)))
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return a
}

// answers reports whether one GET of target gets a response other than a
// server error.
func answers(ctx context.Context, client *http.Client, target string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = res.Body.Close()
	return res.StatusCode < http.StatusInternalServerError
}

// stop ends the announcer and waits for its goroutine to return.
func (a *announcer) stop() {
	a.cancel()
	<-a.done
}
