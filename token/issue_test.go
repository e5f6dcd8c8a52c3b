package token

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

func TestRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			start := startClock(t)
			tk, _ := newTokens(t, alg)
			authAt := start.Add(-90 * time.Second)
			ctx := context.Background()

			sessRaw, sess, err := tk.Issue(ctx, Session, "alice", "", []string{"pwd"}, authAt)
			if err != nil {
				t.Fatal(err)
			}
			want := Claims{
				Kind: Session, ID: sess.ID, User: "alice", Session: sess.ID,
				IssuedAt: start.UTC(), Expires: start.Add(DefaultSessionLifetime).UTC(),
				AuthTime: authAt.UTC(), AMR: []string{"pwd"},
			}
			if !reflect.DeepEqual(sess, want) {
				t.Fatalf("issued session claims\n got %+v\nwant %+v", sess, want)
			}
			if len(sess.ID) != 22 {
				t.Fatalf("token id %q: want 22 base64url characters (128 bits)", sess.ID)
			}

			upRaw, up, err := tk.Issue(ctx, StepUp, "alice", sess.Session, []string{"otp", "mfa"}, start)
			if err != nil {
				t.Fatal(err)
			}
			want = Claims{
				Kind: StepUp, ID: up.ID, User: "alice", Session: sess.ID,
				IssuedAt: start.UTC(), Expires: start.Add(DefaultLifetime).UTC(),
				AuthTime: start.UTC(), AMR: []string{"otp", "mfa"}, ACR: "stepup:otp",
			}
			if !reflect.DeepEqual(up, want) {
				t.Fatalf("issued step-up claims\n got %+v\nwant %+v", up, want)
			}
			if up.ID == sess.ID {
				t.Fatal("step-up token reuses the session id")
			}

			// Later, but before expiry, both parse back to exactly what Issue said.
			setClock(t, start.Add(DefaultLifetime-time.Second))
			for _, tc := range []struct {
				kind Kind
				raw  string
				want Claims
			}{{Session, sessRaw, sess}, {StepUp, upRaw, up}} {
				got, err := tk.Parse(tc.kind, tc.raw)
				if err != nil {
					t.Fatalf("Parse %s: %v", tc.kind, err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("Parse %s\n got %+v\nwant %+v", tc.kind, got, tc.want)
				}
			}
		})
	}
}

func TestIssueHeader(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		raw, _, _, _ := issuePair(t, tk)
		tok, _, err := tk.parser.ParseUnverified(raw, &wireClaims{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": alg, "typ": string(Session), "kid": tk.kid}
		if !reflect.DeepEqual(tok.Header, want) {
			t.Errorf("%s header %v, want %v", alg, tok.Header, want)
		}
	}
}

func TestIssueRefusesMisuse(t *testing.T) {
	start := startClock(t)
	tk, st := newTokens(t, "HS256")
	ctx := context.Background()
	_, sess, err := tk.Issue(ctx, Session, "alice", "", nil, start)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		kind          Kind
		user, session string
		auth          time.Time
	}{
		{"unknown kind", "JWT", "alice", "", start},
		{"empty kind", "", "alice", "", start},
		{"no user", Session, "", "", start},
		{"session token given a session", Session, "alice", sess.Session, start},
		{"step-up without session", StepUp, "alice", "", start},
		{"zero auth time", StepUp, "alice", sess.Session, time.Time{}},
		{"auth time in the future", StepUp, "alice", sess.Session, start.Add(time.Second)},
	} {
		raw, c, err := tk.Issue(ctx, tc.kind, tc.user, tc.session, nil, tc.auth)
		if err == nil || raw != "" || !reflect.DeepEqual(c, Claims{}) {
			t.Errorf("%s: Issue = %q, %+v, %v; want an error and nothing else", tc.name, raw, c, err)
		}
	}
	gs, err := st.Grants(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 {
		t.Errorf("refused Issue calls tracked grants: %+v", gs)
	}
}

func TestIssueCopiesAMR(t *testing.T) {
	start := startClock(t)
	tk, _ := newTokens(t, "HS256")
	amr := []string{"pwd"}
	_, c, err := tk.Issue(context.Background(), Session, "alice", "", amr, start)
	if err != nil {
		t.Fatal(err)
	}
	amr[0] = "mfa"
	if c.AMR[0] != "pwd" {
		t.Fatal("claims share the caller's amr slice")
	}
}

func TestIssueTracksAndRevokeUntracks(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			startClock(t)
			tk, st := newTokens(t, alg)
			ctx := context.Background()
			_, sess, _, up := issuePair(t, tk)

			gs, err := st.Grants(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			want := []store.Grant{
				{User: "alice", ID: sess.ID, Session: sess.ID, Expires: sess.Expires},
				{User: "alice", ID: up.ID, Session: sess.ID, Expires: up.Expires},
			}
			if !sameGrants(gs, want) {
				t.Fatalf("tracked grants\n got %+v\nwant %+v", gs, want)
			}
			live(t, tk, true, sess, up)
			live(t, tk, true, sess)
			live(t, tk, true, up) // a step-up token alone also checks its session

			// Revoking the step-up token leaves the session.
			if err := tk.Revoke(ctx, "alice", up.ID); err != nil {
				t.Fatal(err)
			}
			live(t, tk, false, sess, up)
			live(t, tk, false, up)
			live(t, tk, true, sess)
			if err := tk.Revoke(ctx, "alice", up.ID); err != nil {
				t.Fatalf("revoking twice: %v", err)
			}
		})
	}
}

func TestRevokeSessionRevokesStepUps(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "EdDSA")
	ctx := context.Background()
	_, sess, _, up := issuePair(t, tk)
	_, up2, err := tk.Issue(ctx, StepUp, "alice", sess.Session, []string{"sms"}, now())
	if err != nil {
		t.Fatal(err)
	}
	_, other, _, otherUp := issuePair(t, tk) // alice's other browser

	if err := tk.Revoke(ctx, "alice", sess.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Claims{sess, up, up2} {
		if ok, err := tk.store.Live(ctx, "alice", c.ID); ok || err != nil {
			t.Errorf("%s %s still live after its session was revoked (err %v)", c.Kind, c.ID, err)
		}
	}
	live(t, tk, true, other, otherUp)
}

// TestLiveChecksSession: a step-up token is live only while its session is, even if
// the store still holds the step-up grant itself.
func TestLiveChecksSession(t *testing.T) {
	startClock(t)
	tk, st := newTokens(t, "HS256")
	ctx := context.Background()
	_, sess, _, up := issuePair(t, tk)
	// Tracking an expired grant ends the session grant alone, without the cascade
	// Revoke would do.
	gone := store.Grant{User: "alice", ID: sess.ID, Session: sess.ID, Expires: time.Now().Add(-time.Second)}
	if err := st.Track(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Live(ctx, "alice", up.ID); !ok || err != nil {
		t.Fatalf("test setup: step-up grant gone too (%v, %v)", ok, err)
	}
	live(t, tk, false, up)
	live(t, tk, false, sess, up)
}

func TestLiveRefusesMixedClaims(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	ctx := context.Background()
	_, sess, _, up := issuePair(t, tk)
	_, sess2, _, up2 := issuePair(t, tk)
	_, bob, err := tk.Issue(ctx, Session, "bob", "", nil, now())
	if err != nil {
		t.Fatal(err)
	}
	live(t, tk, true, sess2, up2)
	live(t, tk, false, sess, up2) // step-up token of another session
	live(t, tk, false, sess2, up)
	live(t, tk, false, bob, up) // another user
	live(t, tk, false)          // nothing to go on
	live(t, tk, false, Claims{})

	// Claims that were never issued (or whose store record is gone) are not live.
	forged := up
	forged.ID = "AAAAAAAAAAAAAAAAAAAAAA"
	live(t, tk, false, sess, forged)
}

func TestStoreUnavailable(t *testing.T) {
	startClock(t)
	tk, st := newTokens(t, "HS256")
	ctx := context.Background()
	_, sess, _, up := issuePair(t, tk)
	st.Close()

	raw, c, err := tk.Issue(ctx, Session, "alice", "", nil, now())
	if !errors.Is(err, store.ErrUnavailable) || raw != "" || c.ID != "" {
		t.Fatalf("Issue on a closed store = %q, %+v, %v; want nothing and ErrUnavailable", raw, c, err)
	}
	if ok, err := tk.Live(ctx, sess, up); ok || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Live on a closed store = %v, %v; want false and ErrUnavailable", ok, err)
	}
	if err := tk.Revoke(ctx, "alice", sess.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Revoke on a closed store = %v; want ErrUnavailable", err)
	}
}

func TestRevokeNeedsIDs(t *testing.T) {
	tk, _ := newTokens(t, "HS256")
	if err := tk.Revoke(context.Background(), "", "x"); err == nil {
		t.Error("Revoke without a user succeeded")
	}
	if err := tk.Revoke(context.Background(), "alice", ""); err == nil {
		t.Error("Revoke without an id succeeded")
	}
}

func TestRandomFailure(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	old := randReader
	randReader = strings.NewReader("short")
	defer func() { randReader = old }()
	if raw, _, err := tk.Issue(context.Background(), Session, "alice", "", nil, now()); err == nil || raw != "" {
		t.Fatalf("Issue without randomness = %q, %v; want an error", raw, err)
	}
}

// TestConcurrent runs under -race in CI: Tokens is shared by every request.
func TestConcurrent(t *testing.T) {
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					raw, c, err := tk.Issue(context.Background(), Session, "alice", "", []string{"pwd"}, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					got, err := tk.Parse(Session, raw)
					if err != nil || got.ID != c.ID {
						t.Errorf("Parse = %+v, %v", got, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

func live(tb testing.TB, tk *Tokens, want bool, cs ...Claims) {
	tb.Helper()
	got, err := tk.Live(context.Background(), cs...)
	if err != nil {
		tb.Fatalf("Live: %v", err)
	}
	if got != want {
		tb.Fatalf("Live(%d claims) = %v, want %v", len(cs), got, want)
	}
}

// sameGrants compares grant lists in any order, times by instant.
func sameGrants(got, want []store.Grant) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.User == w.User && g.ID == w.ID && g.Session == w.Session && g.Expires.Equal(w.Expires) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Where the gateway keeps no session (header identity), a step-up token belongs to
// its user and is live while its own ID is.
func TestNoSessionTokens(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	ctx := context.Background()
	_, up, err := tk.Issue(ctx, StepUp, "dave", NoSession, []string{"otp"}, now())
	if err != nil {
		t.Fatal(err)
	}
	live(t, tk, true, up)
	if err := tk.Revoke(ctx, "dave", up.ID); err != nil {
		t.Fatal(err)
	}
	live(t, tk, false, up)
}

// RevokeStepUps ends the step-up tokens and keeps the sessions; RevokeUser ends all.
func TestRevokeStepUpsAndUser(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	ctx := context.Background()
	_, sess, _, up := issuePair(t, tk)
	_, sess2, _, up2 := issuePair(t, tk)
	if err := tk.RevokeStepUps(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	live(t, tk, true, sess)
	live(t, tk, true, sess2)
	live(t, tk, false, sess, up)
	live(t, tk, false, sess2, up2)
	if err := tk.RevokeUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	live(t, tk, false, sess)
	live(t, tk, false, sess2)
}
