package token_test

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// The hot path of a protected request: parse both cookies, then one store call
// tells whether both are still live.
func Example() {
	st, _ := store.NewMemory("")
	defer st.Close()
	key := []byte("HphVGczPYeT5Z+FoYk9K1ReHKhmOaPgrkthW/tUX1kk=") // openssl rand -base64 32
	tokens, err := token.New(token.Config{Issuer: "Example Console", HMACKey: key}, st)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	// At login, and after a passed TOTP challenge:
	sessCookie, sess, _ := tokens.Issue(ctx, token.Session, "alice", "", []string{"pwd"}, time.Now())
	upCookie, _, _ := tokens.Issue(ctx, token.StepUp, "alice", sess.Session, []string{"otp"}, time.Now())

	// On a protected request:
	s, err1 := tokens.Parse(token.Session, sessCookie)
	u, err2 := tokens.Parse(token.StepUp, upCookie)
	live, err3 := tokens.Live(ctx, s, u)
	fmt.Println(err1 == nil && err2 == nil && err3 == nil, live, u.AMR)

	// At logout:
	_ = tokens.Revoke(ctx, s.User, s.ID)
	live, _ = tokens.Live(ctx, s, u)
	fmt.Println(live)

	// A step-up token is never taken for a session:
	_, err = tokens.Parse(token.Session, upCookie)
	fmt.Println(err)
	// Output:
	// true true [otp]
	// false
	// token: invalid token: wrong kind
}
