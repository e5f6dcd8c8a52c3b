package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// BenchmarkConsoleSessionCheck is the cost bind_console_session adds to a request
// that reaches the console (memory store): with the console cookie and its gateway
// session (a cached liveness check), with other cookies only, with the gateway's
// cookies only, and with none.
func BenchmarkConsoleSessionCheck(b *testing.B) {
	ctx := context.Background()
	key := []byte("q3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2=")
	mem, err := store.NewMemory("")
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	tokens, err := token.New(token.Config{Issuer: "bench", HMACKey: key}, mem)
	if err != nil {
		b.Fatal(err)
	}
	raw, claims, err := tokens.Issue(ctx, token.Session, "alice", "", []string{"pwd"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ck := cookies{prefix: "/.stepup"}
	id := &identifier{tokens: tokens, cookies: ck, log: zap.NewNop()}
	e := env{now: time.Now, log: zap.NewNop(), events: NoEvents{}, clientIP: peerIP}
	cs, err := newConsoleSessions(ConsoleSessionOptions{Cookie: "sid", Remember: time.Hour, Key: key}, tokens, mem, id, ck, e)
	if err != nil {
		b.Fatal(err)
	}
	if err := cs.attach(ctx, claims, http.Header{"Set-Cookie": {"sid=4f0c2a9be1d37a58c6e0f1b2a3d4c5e6; Path=/"}}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, cookie string }{
		{"bound", sessionCookie + "=" + raw + "; sid=4f0c2a9be1d37a58c6e0f1b2a3d4c5e6; theme=dark"},
		{"other-cookies", "theme=dark; lang=en"},
		// no console cookie, but the long line of the gateway's own tokens to search
		{"gateway-cookies", sessionCookie + "=" + raw + "; " + tokenCookie + "=" + raw},
		{"no-cookies", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/dashboard", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				if bc.cookie != "" {
					r.Header["Cookie"] = []string{bc.cookie}
				}
				cs.check(w, r, id.caller(r), true)
			}
			if bc.name == "bound" && len(r.Header["Cookie"]) != 1 {
				b.Fatal("the bound console cookie was removed")
			}
		})
	}
}
