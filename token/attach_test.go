package token

import (
	"context"
	"testing"
	"time"
)

// TestAttachFollowsTheSession: an attached credential is live while its session is,
// outlives a revocation of step-up tokens, and ends with the session or the user.
func TestAttachFollowsTheSession(t *testing.T) {
	startClock(t)
	ctx := context.Background()
	for _, end := range []string{"logout", "everywhere"} {
		t.Run(end, func(t *testing.T) {
			tk, _ := newTokens(t, "HS256")
			_, sess, _, _ := issuePair(t, tk)
			_, other, _, _ := issuePair(t, tk) // alice's other browser
			if err := tk.Attach(ctx, sess, "fp1", time.Time{}); err != nil {
				t.Fatal(err)
			}
			attachedLive(t, tk, sess, "fp1", true)
			attachedLive(t, tk, sess, "fp2", false) // never attached
			// Liveness is the user's: another live session of the same user counts.
			attachedLive(t, tk, other, "fp1", true)

			if err := tk.RevokeStepUps(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			attachedLive(t, tk, sess, "fp1", true)

			switch end {
			case "logout":
				if err := tk.Revoke(ctx, "alice", sess.ID); err != nil {
					t.Fatal(err)
				}
			case "everywhere":
				if err := tk.RevokeUser(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
			}
			attachedLive(t, tk, sess, "fp1", false)
			attachedLive(t, tk, other, "fp1", false) // it ended with its own session
			if ok, err := tk.store.Live(ctx, "alice", attachedPrefix+"fp1"); ok || err != nil {
				t.Errorf("the attached grant outlived its session (%v, %v)", ok, err)
			}
		})
	}
}

func TestAttachExpiresEarlierWhenAsked(t *testing.T) {
	startClock(t)
	ctx := context.Background()
	tk, _ := newTokens(t, "EdDSA")
	_, sess, _, _ := issuePair(t, tk)
	if err := tk.Attach(ctx, sess, "soon", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	attachedLive(t, tk, sess, "soon", false)
	if err := tk.Attach(ctx, sess, "later", sess.Expires.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	grants, err := tk.store.Grants(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.ID == attachedPrefix+"later" && g.Expires.After(sess.Expires) {
			t.Errorf("attached grant expires %v, after its session %v", g.Expires, sess.Expires)
		}
	}
}

func TestAttachRefusesMisuse(t *testing.T) {
	startClock(t)
	ctx := context.Background()
	tk, _ := newTokens(t, "HS256")
	_, sess, _, up := issuePair(t, tk)
	for name, call := range map[string]func() error{
		"a step-up token":         func() error { return tk.Attach(ctx, up, "fp", time.Time{}) },
		"no fingerprint":          func() error { return tk.Attach(ctx, sess, "", time.Time{}) },
		"a colon in the print":    func() error { return tk.Attach(ctx, sess, "a:b", time.Time{}) },
		"a session without an id": func() error { return tk.Attach(ctx, Claims{Kind: Session, User: "alice"}, "fp", time.Time{}) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: attached", name)
		}
	}
	if ok, err := tk.LiveAttached(ctx, up, "fp"); ok || err != nil {
		t.Errorf("LiveAttached of a step-up token = %v, %v", ok, err)
	}
}

func attachedLive(t *testing.T, tk *Tokens, s Claims, fp string, want bool) {
	t.Helper()
	got, err := tk.LiveAttached(context.Background(), s, fp)
	if err != nil || got != want {
		t.Errorf("LiveAttached(%s, %q) = %v, %v; want %v", s.ID, fp, got, err, want)
	}
}
