package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// ConsoleSessionOptions make the console's sessions follow the gateway's (see the Caddy
// module's ConsoleSessionConfig for each field's meaning).
type ConsoleSessionOptions struct {
	// Cookie is the console's session cookie (the login route's success cookie).
	Cookie string
	// Strict removes console cookies the gateway never released, too.
	Strict bool
	// Remember is how long the gateway remembers to whom it released a console cookie.
	Remember time.Duration
	// Key keys the fingerprints of console cookies: at least 32 random bytes.
	Key []byte
	// PreviousKeys are the keys before Key, newest first: console cookies released
	// under them are still found (and their fingerprints re-made with Key at their
	// next request), so a key rotation ends no console session.
	PreviousKeys [][]byte
}

// maxConsolePairs bounds the console cookies one request may carry; more are all
// removed unchecked (a browser sends one or two).
const maxConsolePairs = 4

// attachments attach console sessions to gateway sessions.
type attachments interface {
	Attach(ctx context.Context, s token.Claims, fingerprint string, expires time.Time) error
	LiveAttached(ctx context.Context, s token.Claims, fingerprint string) (bool, error)
	Live(ctx context.Context, cs ...token.Claims) (bool, error)
}

// records reads and writes single records of the store.
type records interface {
	Get(ctx context.Context, key store.Key) ([]byte, error)
	Put(ctx context.Context, key store.Key, value []byte, ttl time.Duration) error
}

// consoleSessions tie the console's session cookie to the gateway session it was
// released with. At release the cookie's fingerprint is attached to the gateway
// session (so it ends with it, through the live cache and the revocation broadcast),
// and its owner is remembered. A request carrying a console cookie the gateway
// released, without a live gateway session of the same user, has it removed: the
// console sees a signed-out visitor. Cookies the gateway never released pass, unless
// strict. A store that cannot answer lets the request pass, logged: unprotected pages
// stay available, and protected routes fail closed on their own.
type consoleSessions struct {
	opts    ConsoleSessionOptions
	cookie  cookieMatcher
	tokens  attachments
	owners  records
	id      *identifier
	cookies cookies
	keys    *keyring.Ring // the fingerprints' keys: the current one names new releases
	env
}

func newConsoleSessions(o ConsoleSessionOptions, tokens attachments, owners records, id *identifier, ck cookies, e env) (*consoleSessions, error) {
	switch {
	case o.Cookie == "":
		return nil, errors.New("gateway: console sessions need the console's session cookie (the login's success cookie)")
	case len(o.Key) < 32:
		return nil, errors.New("gateway: the console session key must be at least 32 bytes")
	case o.Remember <= 0:
		return nil, errors.New("gateway: console sessions must be remembered for a positive time")
	}
	if own := GatewayCookieLike(o.Cookie); own != "" {
		return nil, fmt.Errorf("gateway: the console's session cookie %q is also read as the gateway's own cookie %q: the console must name its session cookie otherwise", o.Cookie, own)
	}
	m := newCookieMatcher(o.Cookie)
	keys, err := keyring.New(append([][]byte{o.Key}, o.PreviousKeys...)...)
	if err != nil {
		return nil, errors.New("gateway: console session keys: " + err.Error())
	}
	return &consoleSessions{opts: o, cookie: m, tokens: tokens, owners: owners, id: id, cookies: ck,
		keys: keys, env: e}, nil
}

// GatewayCookieLike returns the gateway's own cookie that a console cookie named name
// would be read as by some parser (any case, '.' for '_', percent-encoding), or "".
// Such a console cookie cannot work: the gateway hides its own cookies from the
// console, and would judge its own as the console's.
func GatewayCookieLike(name string) string {
	m := newCookieMatcher(name)
	for own := range gatewayCookies {
		if m.is(own) {
			return own
		}
	}
	return ""
}

// fingerprint names a console cookie value in the store without revealing it: a dump
// of the store holds no console session. It is made with the current key.
func (cs *consoleSessions) fingerprint(value string) string {
	return fingerprintWith(cs.keys.Current(), value)
}

func fingerprintWith(k *keyring.Key, value string) string {
	return base64.RawURLEncoding.EncodeToString(k.MAC([]byte(value))[:16])
}

func ownerKey(fp string) store.Key { return store.Key{Scope: "console:" + fp, Name: "owner"} }

// attach ties every console session cookie set in hdr (the console's answer to a
// login the gateway releases) to the gateway session s.
func (cs *consoleSessions) attach(ctx context.Context, s token.Claims, hdr http.Header) error {
	now := cs.now()
	for _, line := range hdr.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || !cs.cookie.is(c.Name) || c.Value == "" || c.MaxAge < 0 || (!c.Expires.IsZero() && !c.Expires.After(now)) {
			continue
		}
		remember := cs.opts.Remember
		if c.MaxAge > 0 {
			remember = max(remember, time.Duration(c.MaxAge)*time.Second)
		} else if !c.Expires.IsZero() {
			remember = max(remember, c.Expires.Sub(now))
		}
		remember = min(remember, 400*24*time.Hour) // browsers keep no cookie longer
		for _, reading := range cookieReadings(c.Value) {
			if err := cs.attachFingerprint(ctx, s, cs.fingerprint(reading), remember); err != nil {
				return err
			}
		}
	}
	return nil
}

// attachFingerprint ties the console cookie named fp to the gateway session s, and
// remembers its owner for remember.
func (cs *consoleSessions) attachFingerprint(ctx context.Context, s token.Claims, fp string, remember time.Duration) error {
	if err := cs.tokens.Attach(ctx, s, fp, time.Time{}); err != nil {
		return err
	}
	return cs.owners.Put(ctx, ownerKey(fp), []byte(s.User), remember)
}

// check removes from r the console cookies that must not reach the console, and
// returns the writer to answer r with: one that follows the console when it sets a
// new session cookie for a live gateway session (follow), else w. c is r's caller
// as the request came; changed reports that cookies were removed, so anything read
// from the Cookie header before is read again.
func (cs *consoleSessions) check(w http.ResponseWriter, r *http.Request, c caller, follow bool) (_ http.ResponseWriter, changed bool) {
	pairs := cs.cookie.pairs(r.Header)
	if len(pairs) == 0 && !c.known() {
		return w, false
	}
	j := judge{cs: cs, ctx: r.Context(), caller: c}
	var drop []cookiePair
	var kept []string // fingerprints of the console cookies let through as bound
	for i, p := range pairs {
		if i >= maxConsolePairs {
			cs.removed(r, c, "", "more console session cookies than a browser sends")
			drop = append(drop, p)
			continue
		}
		ok, owner, why, err := j.pair(p)
		switch {
		case err != nil:
			cs.events.ConsoleSession("unchecked")
			cs.log.Error("console session cookie not checked: the store did not answer; passed",
				zap.Error(err), zap.String("client_ip", cs.clientIP(r)))
		case !ok:
			cs.removed(r, c, owner, why)
			drop = append(drop, p)
		default:
			kept = append(kept, j.bound...)
		}
	}
	if len(drop) > 0 {
		removePairs(r.Header, drop)
	}
	if !follow || !c.known() || c.headerMode {
		return w, len(drop) > 0
	}
	return &consoleFollower{ResponseWriter: w, cs: cs, r: r, caller: c, known: kept}, len(drop) > 0
}

func (cs *consoleSessions) removed(r *http.Request, c caller, owner, why string) {
	cs.events.ConsoleSession("removed")
	cs.log.Info("console session cookie removed before the console: "+why,
		zap.String("owner", owner), zap.String("user", c.User), zap.String("client_ip", cs.clientIP(r)))
}

// judge decides the console cookies of one request.
type judge struct {
	cs     *consoleSessions
	ctx    context.Context
	caller caller
	live   *bool    // the caller's gateway session is live; asked once
	bound  []string // fingerprints found attached to the caller's user, for the last pair
}

// pair says whether a console cookie pair may reach the console; when not, whose it
// is and why.
func (j *judge) pair(p cookiePair) (ok bool, owner, why string, err error) {
	j.bound = j.bound[:0]
	unknown := false
	plain := true
	for _, v := range p.values {
		readings := cookieReadings(v)
		plain = plain && len(readings) == 1 && len(p.values) == 1
		for _, reading := range readings {
			fp := j.cs.fingerprint(reading)
			verdict, who, err := j.reading(fp)
			if err == nil && verdict == unreleased {
				verdict, who, err = j.previousKeys(reading, fp)
			}
			if err != nil {
				return false, "", "", err
			}
			switch verdict {
			case released:
				j.bound = append(j.bound, fp)
			case unreleased:
				unknown = true
			case ended:
				return false, who, "it was released to a gateway session that has ended", nil
			case someoneElse:
				return false, who, "it was released to another user", nil
			}
		}
	}
	switch {
	case !unknown:
		return true, "", "", nil
	case j.cs.opts.Strict:
		return false, "", "the gateway never released it (strict)", nil
	case !plain:
		// Spelled so that consoles may read it differently, and not the gateway's: the
		// gateway cannot tell which session the console would see.
		return false, "", "the gateway never released it and the console may read it otherwise", nil
	}
	return true, "", "", j.adopt(p.values[0])
}

// adopt attaches a console cookie the gateway never released (one from before the
// feature was on) to the caller's live gateway session, so it ends with it from now
// on, and later requests take the fast path.
func (j *judge) adopt(value string) error {
	c := j.caller
	if !c.known() || c.headerMode {
		return nil
	}
	live, err := j.callerLive()
	if err != nil || !live {
		return err
	}
	if err := j.cs.attach(j.ctx, c.session, http.Header{"Set-Cookie": {(&http.Cookie{Name: j.cs.opts.Cookie, Value: value}).String()}}); err != nil {
		return err
	}
	j.cs.events.ConsoleSession("attached")
	j.cs.log.Info("a console session cookie the gateway never released is attached to the caller's gateway session", zap.String("user", c.User))
	return nil
}

// previousKeys judges a console cookie reading the current key does not know by its
// fingerprints under the previous keys: one released before a key rotation is found
// there. Found released to the caller, it is attached again under the current key's
// fingerprint fp, so its next request takes the fast path and it stays known once the
// previous keys are dropped.
func (j *judge) previousKeys(reading, fp string) (readingVerdict, string, error) {
	for _, k := range j.cs.keys.Previous() {
		verdict, who, err := j.reading(fingerprintWith(k, reading))
		if err != nil || verdict == unreleased {
			if err != nil {
				return 0, "", err
			}
			continue
		}
		if verdict == released {
			if err := j.cs.attachFingerprint(j.ctx, j.caller.session, fp, j.cs.opts.Remember); err != nil {
				return 0, "", err
			}
			j.cs.log.Debug("a console session cookie released under a previous key is attached under the current one", zap.String("user", j.caller.User))
		}
		return verdict, who, nil
	}
	return unreleased, "", nil
}

// callerLive asks once whether the caller's gateway session is live.
func (j *judge) callerLive() (bool, error) {
	if j.live == nil {
		live, err := j.cs.tokens.Live(j.ctx, j.caller.session)
		if err != nil {
			return false, err
		}
		j.live = &live
	}
	return *j.live, nil
}

type readingVerdict int

const (
	released    readingVerdict = iota // attached to a live session of the caller's user
	unreleased                        // the gateway never released it (or forgot it)
	ended                             // released to a session that is no longer live here
	someoneElse                       // released to another user
)

func (j *judge) reading(fp string) (readingVerdict, string, error) {
	c := j.caller
	if c.known() && !c.headerMode {
		ok, err := j.cs.tokens.LiveAttached(j.ctx, c.session, fp)
		if err != nil || ok {
			return released, "", err
		}
	}
	b, err := j.cs.owners.Get(j.ctx, ownerKey(fp))
	if errors.Is(err, store.ErrNotFound) {
		return unreleased, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	owner := string(b)
	switch {
	case !c.known() || c.headerMode:
		return ended, owner, nil
	case !policy.SameUser(owner, c.User):
		return someoneElse, owner, nil
	}
	// The owner's own browser: its console cookie counts while any of its gateway
	// sessions here is live (the attachment may be of an older session of the user).
	live, err := j.callerLive()
	if err != nil {
		return 0, "", err
	}
	if live {
		return released, "", nil
	}
	return ended, owner, nil
}

// consoleFollower follows the console when it sets a new session cookie for a live
// gateway session: the new cookie is attached before the answer leaves, so the next
// request carrying it finds it.
type consoleFollower struct {
	http.ResponseWriter
	cs          *consoleSessions
	r           *http.Request
	caller      caller
	known       []string // fingerprints of the request's console cookies, attached already
	wroteHeader bool
}

func (f *consoleFollower) WriteHeader(status int) {
	if f.wroteHeader {
		return
	}
	if status >= 200 {
		f.wroteHeader = true
		f.follow()
	}
	f.ResponseWriter.WriteHeader(status)
}

func (f *consoleFollower) Write(p []byte) (int, error) {
	if !f.wroteHeader {
		f.WriteHeader(http.StatusOK)
	}
	return f.ResponseWriter.Write(p)
}

// FlushError sends the header first, followed, as Write does.
func (f *consoleFollower) FlushError() error {
	if !f.wroteHeader {
		f.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(f.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer (deadlines, hijacking for
// WebSockets).
func (f *consoleFollower) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func (f *consoleFollower) follow() {
	hdr := f.ResponseWriter.Header()
	sets := false
	for _, line := range hdr.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && f.cs.cookie.is(c.Name) && c.Value != "" && c.MaxAge >= 0 && !f.isKnown(c.Value) {
			sets = true
			break
		}
	}
	if !sets {
		return
	}
	ctx := f.r.Context()
	live, err := f.cs.tokens.Live(ctx, f.caller.session)
	if err == nil && live {
		err = f.cs.attach(ctx, f.caller.session, hdr)
	}
	switch {
	case err != nil:
		f.cs.log.Error("the console set a new session cookie that could not be attached to the gateway session; it will not follow it",
			zap.String("user", f.caller.User), zap.Error(err))
	case live:
		f.cs.events.ConsoleSession("attached")
		f.cs.log.Debug("the console set a new session cookie; attached to the gateway session", zap.String("user", f.caller.User))
	}
}

func (f *consoleFollower) isKnown(value string) bool {
	return slices.Contains(f.known, f.cs.fingerprint(value))
}
