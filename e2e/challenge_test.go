package e2e

// Challenges of operations: the gateway's challenge page, answering it, and an
// operation that passes on a recent second factor.

import (
	"strings"

	"github.com/chromedp/cdproto/network"

	"github.com/caddy-stepup/stepup/internal/totptest"
)

// expectChallengePage checks that the browser was sent to a challenge of the gateway
// (the challenge or the binding page) and returns its path.
func (p *page) expectChallengePage(resp *network.Response) string {
	p.t.Helper()
	loc := p.location()
	if !strings.HasPrefix(loc.Path, "/.stepup/challenge/") || loc.RawQuery != "" {
		p.fail("expected the gateway's challenge page, but the browser shows %s", loc.RequestURI())
	}
	if resp == nil || resp.Status != 200 {
		p.fail("expected status 200 on the challenge page, got %v", resp)
	}
	return loc.Path
}

// expectFreshChallenge checks a challenge page just opened: for user, no error yet.
func (p *page) expectFreshChallenge(user string) {
	p.t.Helper()
	if got := p.text("challenge-user"); got != user {
		p.fail("challenge is for %q", got)
	}
	if p.has("challenge-error") {
		p.fail("a fresh challenge page shows an error")
	}
}

// enterWrongCode types a wrong authenticator code: the same challenge comes back
// (post/redirect/get), saying the code is not right.
func (p *page) enterWrongCode(app *totptest.App, challengePath string) {
	p.t.Helper()
	p.fill("code", app.Wrong())
	resp := p.click("challenge-submit")
	if got := p.location().Path; got != challengePath {
		p.fail("after a wrong code the browser shows %s, want the challenge %s", got, challengePath)
	}
	if resp.Status != 200 {
		p.fail("status after a wrong code: %d, want the challenge page again", resp.Status)
	}
	if got := p.text("challenge-error"); !strings.Contains(got, "not right") {
		p.fail("challenge error %q does not say the code is not right", got)
	}
}

// deleteWithoutChallenge deletes an instance on a recent second factor: its
// confirmation page and its form post both pass without a challenge.
func (p *page) deleteWithoutChallenge(id string) {
	p.t.Helper()
	resp := p.open("/instances/" + id + "/delete")
	p.expectAt(resp, 200, "/instances/"+id+"/delete")
	resp = p.click("delete-" + id)
	p.expectAt(resp, 200, "/instances?deleted="+id)
	if got := p.text("flash"); got != "Instance "+id+" deleted" {
		p.fail("flash %q", got)
	}
}
