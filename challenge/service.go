// Package challenge runs the gateway's second-factor checks: TOTP codes from an
// authenticator app (binding with two consecutive codes, verification with a replay
// guard), SMS codes sent to a bound phone (binding a number, sending with send limits,
// verification), the challenge a user answers before a protected login or operation
// goes through, and the limits on wrong codes per challenge, per user and per client
// network, shared by both methods.
//
// All state lives in a store.Store, so limits and single use hold across gateway
// instances. Secrets are sealed at rest with a Sealer. Nothing here logs or speaks HTTP:
// errors carry detail for the caller's log, and the caller decides what the client sees.
package challenge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// Limits bound how many wrong codes are tried and how many SMS codes are sent. Zero
// fields take the defaults shown.
type Limits struct {
	// ChallengeTTL is how long a challenge, and what waits on it, lives. Default 5m.
	ChallengeTTL time.Duration

	// MaxAttempts is how many codes one challenge accepts before it ends. Default 5.
	MaxAttempts int

	// LockAfter is how many wrong codes in a row, across challenges, lock the user's
	// second factor. A right code resets the count. Default 10.
	LockAfter int

	// LockFor is how long a lock lasts. After it, one more code may be tried; if it is
	// wrong the lock starts again, until a right code resets the count. Default 15m.
	LockFor time.Duration

	// IPFailures is how many wrong codes one client network (an IPv4 address or an
	// IPv6 /64) may send within IPWindow before it is refused for IPWindow. Default 50.
	IPFailures int

	// IPWindow is the window of IPFailures. Default 15m.
	IPWindow time.Duration

	// ResendAfter is how long after an SMS code was sent for a challenge another may be
	// sent for it. Default 60s.
	ResendAfter time.Duration

	// SendsPerUserHour is how many SMS codes one user may be sent per hour (a fixed
	// window from the first send). Default 5.
	SendsPerUserHour int

	// SendsPerNumberDay is how many SMS codes one phone number may be sent per day
	// (24 hours from the first send), whichever users and challenges ask. Default 10.
	SendsPerNumberDay int

	// SendsPerIPHour is how many SMS codes one client network (an IPv4 address or an
	// IPv6 /64) may ask for per hour. Default 20.
	SendsPerIPHour int

	// SMSCodeTTL is how long an SMS code is valid, at most 10 minutes (NIST SP 800-63B
	// §5.1.3.2); never longer than its challenge. Default 5m.
	SMSCodeTTL time.Duration

	// BegunPerUser is how many challenges may be started for one user within
	// ChallengeTTL (a fixed window from the first). Past it Begin refuses, so a client
	// that keeps calling a protected API without answering cannot fill the store.
	// Default 30.
	BegunPerUser int
}

// maxSMSCodeTTL is the longest SMSCodeTTL New accepts (NIST SP 800-63B, OWASP ASVS V2.7).
const maxSMSCodeTTL = 10 * time.Minute

// failureWindow is how long a user's count of wrong codes in a row lasts without a new
// one, and how long a lock record is kept (longer than the lock itself; see
// beginAttempt).
const failureWindow = 24 * time.Hour

// Record names within a challenge's, a user's and a client network's store scope.
const (
	challengeName    = "challenge"
	attemptsName     = "attempts"
	pendingTOTPName  = "pending-totp"
	failuresName     = "failures"
	lockedName       = "locked"
	totpStepName     = "totp-step"
	blockedName      = "blocked"
	smsCodeName      = "sms-code"      // a challenge's SMS code, as an HMAC
	smsResendName    = "sms-resend"    // a challenge's resend wait
	pendingPhoneName = "pending-phone" // a challenge's phone number being bound, sealed
	smsSendsName     = "sms-sends"     // a user's, number's or network's count of sends
)

// A Service runs challenges. Build it with New; it is safe for concurrent use.
type Service struct {
	// Store keeps challenges, factors and counters. Required.
	Store store.Store

	// Sealer seals TOTP secrets and phone numbers at rest, and keys the HMACs of SMS
	// codes and of phone numbers in store keys. Required.
	Sealer *Sealer

	// SMS sends SMS codes (an sms.Provider satisfies it). Nil means SMS is not
	// configured: sending and phone binding return ErrSMSUnavailable.
	SMS SMSSender

	// Issuer is the name authenticator apps show next to the user's name, and the name
	// SMS messages start with.
	Issuer string

	// Limits bound wrong codes and SMS sends; zero fields take defaults.
	Limits Limits

	// Now is the clock. Default time.Now.
	Now func() time.Time

	// Rand is the source of challenge ids, TOTP secrets and SMS codes. Default
	// crypto/rand.
	Rand io.Reader

	// Resealed, when set, hears of each user whose factors were found sealed with a
	// previous encryption key (or in the first format) when used, and sealed again
	// with the current key: err is nil when the record was written back, else why
	// not (the user's request went on regardless). For the operator's log; it must
	// not block.
	Resealed func(user string, err error)
}

// New returns a Service from s with defaults filled in. Store and Sealer are required.
func New(s Service) (*Service, error) {
	if s.Store == nil {
		return nil, errors.New("challenge: Service needs a Store")
	}
	if s.Sealer == nil {
		return nil, errors.New("challenge: Service needs a Sealer")
	}
	l := &s.Limits
	if l.ChallengeTTL < 0 || l.MaxAttempts < 0 || l.LockAfter < 0 || l.LockFor < 0 || l.IPFailures < 0 || l.IPWindow < 0 ||
		l.ResendAfter < 0 || l.SendsPerUserHour < 0 || l.SendsPerNumberDay < 0 || l.SendsPerIPHour < 0 || l.SMSCodeTTL < 0 || l.BegunPerUser < 0 {
		return nil, errors.New("challenge: limits must not be negative")
	}
	if l.SMSCodeTTL > maxSMSCodeTTL {
		return nil, fmt.Errorf("challenge: SMS codes may be valid for at most %v (NIST SP 800-63B), not %v", maxSMSCodeTTL, l.SMSCodeTTL)
	}
	setDefault(&l.ChallengeTTL, 5*time.Minute)
	setDefault(&l.MaxAttempts, 5)
	setDefault(&l.LockAfter, 10)
	setDefault(&l.LockFor, 15*time.Minute)
	setDefault(&l.IPFailures, 50)
	setDefault(&l.IPWindow, 15*time.Minute)
	setDefault(&l.ResendAfter, time.Minute)
	setDefault(&l.SendsPerUserHour, 5)
	setDefault(&l.SendsPerNumberDay, 10)
	setDefault(&l.SendsPerIPHour, 20)
	setDefault(&l.SMSCodeTTL, 5*time.Minute)
	setDefault(&l.BegunPerUser, 30)
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rand == nil {
		s.Rand = rand.Reader
	}
	return &s, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// A Challenge asks a user for a second factor before something waiting on it goes
// ahead. Knowing its ID is not enough to answer it: the caller must also present the
// Binding it was issued to.
type Challenge struct {
	// ID names the challenge: 128 random bits, base64url. Set by Begin.
	ID string `json:"id"`

	// User is who must answer.
	User string `json:"user"`

	// Binding is what the caller must present to use the challenge: the gateway session
	// id (operations) or a per-browser login nonce (logins). Only its SHA-256 is stored,
	// and it is never written out as JSON.
	Binding string `json:"-"`

	// Purpose is what the challenge is for.
	Purpose policy.Purpose `json:"purpose"`

	// Rule is the name of the protect rule that asked, for the challenge page.
	Rule string `json:"rule,omitempty"`

	// Return is the same-origin path to go back to; the caller validates it.
	Return string `json:"return,omitempty"`

	// Back is the same-origin path a user who cancels goes back to (the page they came
	// from); the caller validates it.
	Back string `json:"back,omitempty"`

	// Request names the held request, "POST /billing/pay", taken from the request
	// itself, for the page to say what is being confirmed; "" when nothing is held.
	Request string `json:"request,omitempty"`

	// Methods are the second-factor methods on offer; only these can answer the
	// challenge, and any one of them passes it.
	Methods []policy.Method `json:"methods"`

	// NoRecovery refuses recovery codes: the challenge is for what only a real factor
	// may do (lower protection, remove the last factor, make new recovery codes).
	NoRecovery bool `json:"no_recovery,omitempty"`

	// Created and Expires are set by Begin.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// challengeRecord is a challenge as stored: the binding only as a hash, so a copy of
// the store does not hand out session ids.
type challengeRecord struct {
	Challenge
	BindingHash []byte `json:"binding_hash"`
}

// Passed is the outcome of a passed challenge.
type Passed struct {
	// Challenge is the challenge passed; it cannot be used again.
	Challenge Challenge

	// Method is the method that passed it.
	Method policy.Method

	// AMR are the RFC 8176 authentication method references for the step-up token.
	AMR []string

	// AuthTime is when the second factor was checked (the token's auth_time).
	AuthTime time.Time
}

// Begin stores a new challenge for c.User and returns it with its ID, Created and
// Expires set (any values given for them are replaced). c.User, c.Binding and a known
// c.Purpose are required.
func (s *Service) Begin(ctx context.Context, c Challenge) (Challenge, error) {
	switch {
	case c.User == "":
		return Challenge{}, errors.New("challenge: Begin needs a user")
	case c.Binding == "":
		return Challenge{}, errors.New("challenge: Begin needs a binding")
	case c.Purpose != policy.PurposeOperation && c.Purpose != policy.PurposeLogin && c.Purpose != policy.PurposeBind:
		return Challenge{}, fmt.Errorf("challenge: unknown purpose %q", c.Purpose)
	}
	begun, err := s.Store.Incr(ctx, store.UserKey(c.User, "begun"), s.Limits.ChallengeTTL)
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: counting challenges: %w", err)
	}
	if begun > int64(s.Limits.BegunPerUser) {
		// The window started at the first of them, so it ends within ChallengeTTL.
		return Challenge{}, &TooManyChallengesError{Until: s.Now().Add(s.Limits.ChallengeTTL)}
	}
	var id [16]byte
	if _, err := io.ReadFull(s.Rand, id[:]); err != nil {
		return Challenge{}, fmt.Errorf("challenge: reading random id: %w", err)
	}
	c.ID = base64.RawURLEncoding.EncodeToString(id[:])
	c.Methods = slices.Clone(c.Methods)
	c.Created = s.Now()
	c.Expires = c.Created.Add(s.Limits.ChallengeTTL)
	b, err := json.Marshal(challengeRecord{Challenge: c, BindingHash: bindingHash(c.Binding)})
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: encoding challenge: %w", err)
	}
	// PutNew, not Put: if Rand ever repeats, a live challenge is not silently replaced.
	ok, err := s.Store.PutNew(ctx, store.ChallengeKey(c.ID, challengeName), b, s.Limits.ChallengeTTL)
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: storing challenge: %w", err)
	}
	if !ok {
		return Challenge{}, errors.New("challenge: new challenge id already in use (is Rand random?)")
	}
	if err := s.trace(ctx, b); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// Challenge returns the live challenge id if binding is the one it was issued to. It
// returns ErrChallengeEnded if the challenge does not exist, expired or was used, and
// ErrNotYours if the binding differs.
func (s *Service) Challenge(ctx context.Context, id, binding string) (Challenge, error) {
	return s.load(ctx, id, binding, s.Now())
}

// load returns the live challenge id if binding matches it.
func (s *Service) load(ctx context.Context, id, binding string, now time.Time) (Challenge, error) {
	if !validID(id) {
		return Challenge{}, ErrChallengeEnded
	}
	b, err := s.Store.Get(ctx, store.ChallengeKey(id, challengeName))
	if errors.Is(err, store.ErrNotFound) {
		return Challenge{}, ErrChallengeEnded
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: reading challenge: %w", err)
	}
	var r challengeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Challenge{}, fmt.Errorf("challenge: challenge record is damaged: %w", err)
	}
	// The store's TTL removes the record too; checking Expires as well keeps the
	// lifetime exact and follows the Service's clock.
	if !now.Before(r.Expires) {
		return Challenge{}, ErrChallengeEnded
	}
	if subtle.ConstantTimeCompare(bindingHash(binding), r.BindingHash) != 1 {
		return Challenge{}, ErrNotYours
	}
	r.Challenge.Binding = binding
	return r.Challenge, nil
}

// take uses up challenge id; of several callers at once, exactly one succeeds.
func (s *Service) take(ctx context.Context, id string) error {
	_, err := s.Store.Take(ctx, store.ChallengeKey(id, challengeName))
	if errors.Is(err, store.ErrNotFound) {
		return ErrChallengeEnded
	}
	if err != nil {
		return fmt.Errorf("challenge: using up challenge: %w", err)
	}
	return nil
}

func passed(c Challenge, method policy.Method, now time.Time) Passed {
	return Passed{Challenge: c, Method: method, AMR: amr(method), AuthTime: now}
}

// amr returns the RFC 8176 method references of a passed method: "otp" for an
// authenticator app, "sms" for a code sent by SMS, and "mfa" since the password came
// first; a recovery code is "recovery" (policy.RecoveryAMR).
func amr(method policy.Method) []string {
	switch method {
	case policy.SMS:
		return []string{"sms", "mfa"}
	case policy.Recovery:
		return []string{policy.RecoveryAMR, "mfa"}
	}
	return []string{"otp", "mfa"}
}

// remaining is how long c has left to live, at least a second so a store TTL is never
// zero (which would mean "forever").
func remaining(c Challenge, now time.Time) time.Duration {
	return max(c.Expires.Sub(now), time.Second)
}

func bindingHash(binding string) []byte {
	h := sha256.Sum256([]byte(binding))
	return h[:]
}

// validID reports whether id looks like an id Begin makes, so junk never reaches the
// store.
func validID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}
