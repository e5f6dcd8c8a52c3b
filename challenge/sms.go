package challenge

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// This file sends and checks SMS codes. A code is six digits from Service.Rand,
// valid for Limits.SMSCodeTTL (never past its challenge), for one challenge and one
// phone number: only an HMAC of the challenge id, the number and the code is stored,
// so neither a copy of the store nor a code sent for another challenge or number
// passes. Sends are limited before anything is sent: one per challenge per
// Limits.ResendAfter, and per user per hour, per phone number per day and per client
// network per hour, all counted in the store so the limits hold across instances.
//
// Every send that gets past the limits counts against all of them, even when the
// provider then fails: a failure can be a timeout after the message went out, a
// provider may charge for refused messages, and counting attempts is what stops a
// failing path from being used to hammer the provider (cost abuse). The user can try
// again after ResendAfter; up to SendsPerUserHour failures in a row then make them
// wait for the hour, or use their authenticator app. The send limits are separate from
// the wrong-code counts: sending a code never resets or adds to them.

// SMSSender sends a text message that carries a code. An sms.Provider satisfies it.
// Send returns nil once the provider has taken the message.
type SMSSender interface {
	Send(ctx context.Context, m CodeMessage) error
}

// CodeMessage is a text message that carries a code, as the Service hands it to an
// SMSSender: the text to send and, beside it, its parts. A provider that may send only
// registered templates with a registered signature (as mainland China's do) builds its
// message from the parts instead of sending Text.
type CodeMessage struct {
	// To is the phone number, in E.164 form ("+8613800138000").
	To string

	// Text is the whole message in Lang: the issuer's name, the code, its lifetime and
	// what it is for. In Chinese the name comes first as a signature, "【Name】…".
	// Every text fits one SMS segment unless the issuer's name is long (see
	// Service.CheckSMSLength).
	Text string

	// Code is the code alone: six digits.
	Code string

	// Purpose is what the code is for: policy.PurposeLogin ("login", a sign-in to the
	// console), policy.PurposeOperation ("operation", a protected action), or
	// policy.PurposeBind ("bind", a phone number being added to the account; the code
	// goes to that number).
	Purpose policy.Purpose

	// Lang is the language of Text, a BCP 47 tag: "en" or "zh-Hans".
	Lang string

	// ExpiresIn is how long the code is valid from when it is sent: Limits.SMSCodeTTL,
	// or less when its challenge ends sooner.
	ExpiresIn time.Duration
}

// smsDigits is the length of an SMS code.
const smsDigits = 6

// Purposes of the Sealer's MACs.
const (
	smsCodePurpose   = "sms-code"   // challenge id, number and code
	smsNumberPurpose = "sms-number" // a phone number, naming its store scope
)

// SentCode is the outcome of a code sent, for the page to show.
type SentCode struct {
	// To is the number the code went to, masked ("+44 ••• ••• 0123").
	To string

	// ResendAt is the earliest time another code may be sent for the challenge.
	ResendAt time.Time

	// Expires is when the code stops being valid.
	Expires time.Time

	// NewPhone reports that the code went to a number being bound, not the bound one.
	NewPhone bool
}

// smsCodeRecord is an SMS code as stored: its MAC, when it expires, and for the page
// (CodeSent) when it was sent and to which number, masked.
type smsCodeRecord struct {
	MAC      []byte    `json:"mac"`
	Expires  time.Time `json:"expires"`
	Sent     time.Time `json:"sent,omitzero"`
	To       string    `json:"to,omitempty"`
	NewPhone bool      `json:"new_phone,omitempty"`
}

// CodeSent returns the SMS code that is waiting to be entered for challenge id: where
// it went (masked), when it expires and when another may be sent. ok is false when no
// code is waiting (none sent, used, or expired). A page shows the code's form from
// this, so a reload or a wrong code never hides it.
func (s *Service) CodeSent(ctx context.Context, id string) (sent SentCode, ok bool, err error) {
	if !validID(id) {
		return SentCode{}, false, nil
	}
	raw, err := s.Store.Get(ctx, store.ChallengeKey(id, smsCodeName))
	if errors.Is(err, store.ErrNotFound) {
		return SentCode{}, false, nil
	}
	if err != nil {
		return SentCode{}, false, fmt.Errorf("challenge: reading the SMS code: %w", err)
	}
	var rec smsCodeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return SentCode{}, false, fmt.Errorf("challenge: SMS code record is damaged: %w", err)
	}
	if !s.Now().Before(rec.Expires) {
		return SentCode{}, false, nil
	}
	return SentCode{To: rec.To, ResendAt: rec.Sent.Add(s.Limits.ResendAfter), Expires: rec.Expires, NewPhone: rec.NewPhone}, true, nil
}

// SendSMSCode sends a new code for challenge id to the user's bound phone, when the
// user asks for one (never on page load: every call may cost money and counts against
// the send limits). A new code replaces the challenge's previous one; the counts of
// wrong codes are not touched. The message is in lang (English when nil): it names the
// Issuer, the code's lifetime and what the code is for (a CodeMessage).
//
// The error is, in the order checked: ErrSMSUnavailable, ErrIPLimited,
// ErrChallengeEnded, ErrNotYours, ErrNotOffered, ErrNotBound (no phone bound: show the
// binding page), ErrLocked (the second factor is locked: no code is sent), ErrSendLimited
// (a *SendLimitedError with when to retry), or ErrSendFailed (the provider failed; no
// code is valid, and the error holds the provider's answer for the log). clientIP is as
// in VerifyTOTP.
func (s *Service) SendSMSCode(ctx context.Context, id, binding, clientIP string, lang *locale.Lang) (SentCode, error) {
	if s.SMS == nil {
		return SentCode{}, ErrSMSUnavailable
	}
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return SentCode{}, err
	}
	c, err := s.load(ctx, id, binding, now)
	if err != nil {
		return SentCode{}, err
	}
	if !slices.Contains(c.Methods, policy.SMS) {
		return SentCode{}, ErrNotOffered
	}
	f, err := loadFactors(ctx, s.Store, c.User)
	if err != nil {
		return SentCode{}, err
	}
	if f.Phone == nil {
		return SentCode{}, ErrNotBound
	}
	number, err := s.Sealer.Open(f.Phone.SealedNumber, phoneBoundTo(c.User))
	if err != nil {
		return SentCode{}, fmt.Errorf("challenge: opening the bound phone number: %w", err)
	}
	if !s.Sealer.Current(f.Phone.SealedNumber) {
		s.resealUser(ctx, c.User)
	}
	if err := s.checkSendLimits(ctx, c, string(number), ip, now); err != nil {
		return SentCode{}, err
	}
	return s.sendCode(ctx, c, string(number), false, now, lang)
}

// VerifySMS answers challenge id with the code sent by SMS for it (SendSMSCode). It
// works, and counts wrong codes, exactly like VerifyTOTP: a wrong SMS code uses up the
// same attempts of the challenge and of the user as a wrong TOTP code. A code sent for
// another challenge, to another number, already used, expired, or never sent is a
// wrong code. Passed.Method is policy.SMS and Passed.AMR ["sms", "mfa"]. The errors are
// those of VerifyTOTP (ErrNotBound meaning no phone bound).
func (s *Service) VerifySMS(ctx context.Context, id, binding, code, clientIP string) (Passed, error) {
	return s.answer(ctx, id, binding, policy.SMS, clientIP, func(c Challenge, f Factors, now time.Time) (codeCheck, error) {
		if f.Phone == nil {
			return nil, ErrNotBound
		}
		number, err := s.Sealer.Open(f.Phone.SealedNumber, phoneBoundTo(c.User))
		if err != nil {
			return nil, fmt.Errorf("challenge: opening the bound phone number: %w", err)
		}
		if !s.Sealer.Current(f.Phone.SealedNumber) {
			s.resealUser(ctx, c.User)
		}
		return func() (bool, bool, error) { return s.checkSMSCode(ctx, c.ID, string(number), code, now) }, nil
	})
}

// checkSMSCode checks code against the code sent for challenge id to number and, if it
// is right, uses it up. The code is read first and taken only when right, so a wrong
// guess does not destroy the code the user is about to type; the take is atomic, so of
// several requests with the right code one gets it (the others see a reused code).
func (s *Service) checkSMSCode(ctx context.Context, id, number, code string, now time.Time) (ok, reused bool, err error) {
	key := store.ChallengeKey(id, smsCodeName)
	raw, err := s.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, false, nil // none sent, or expired: a wrong code
	}
	if err != nil {
		return false, false, fmt.Errorf("challenge: reading the SMS code: %w", err)
	}
	var rec smsCodeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return false, false, fmt.Errorf("challenge: SMS code record is damaged: %w", err)
	}
	// The MAC is computed and compared whatever the input, in constant time, under
	// every encryption key: a code sent just before a key rotation still works.
	match := s.Sealer.VerifyMAC(rec.MAC, smsCodeData(id, number, code), smsCodePurpose)
	// The store's TTL removes the record too; Expires keeps the lifetime exact and on
	// the Service's clock.
	if !match || !sixDigits(code) || !now.Before(rec.Expires) {
		return false, false, nil
	}
	if _, err := s.Store.Take(ctx, key); errors.Is(err, store.ErrNotFound) {
		return false, true, nil
	} else if err != nil {
		return false, false, fmt.Errorf("challenge: using up the SMS code: %w", err)
	}
	return true, false, nil
}

// sendCode makes a new code for c, stores its MAC (replacing any earlier code of c) and
// sends it to number. The send limits are checked already. If the provider fails, the
// code is removed again, so no code is valid that the user may not have received.
func (s *Service) sendCode(ctx context.Context, c Challenge, number string, newPhone bool, now time.Time, lang *locale.Lang) (SentCode, error) {
	code, err := newSMSCode(s.Rand)
	if err != nil {
		return SentCode{}, err
	}
	expires := now.Add(s.Limits.SMSCodeTTL)
	if c.Expires.Before(expires) {
		expires = c.Expires // a code outliving its challenge would be no use
	}
	rec, err := json.Marshal(smsCodeRecord{MAC: s.smsCodeMAC(c.ID, number, code), Expires: expires, Sent: now, To: MaskPhone(number), NewPhone: newPhone})
	if err != nil {
		return SentCode{}, fmt.Errorf("challenge: encoding the SMS code: %w", err)
	}
	// Stored before it is sent, so a code that arrives at once already works.
	key := store.ChallengeKey(c.ID, smsCodeName)
	if err := s.Store.Put(ctx, key, rec, max(expires.Sub(now), time.Second)); err != nil {
		return SentCode{}, fmt.Errorf("challenge: storing the SMS code: %w", err)
	}
	if lang == nil {
		lang = locale.English
	}
	purpose := codePurpose(c, newPhone)
	lifetime := expires.Sub(now)
	msg := CodeMessage{
		To: number, Text: smsText(lang, purpose, s.Issuer, code, lifetime),
		Code: code, Purpose: purpose, Lang: lang.Code(), ExpiresIn: lifetime,
	}
	if err := s.SMS.Send(ctx, msg); err != nil {
		sendErr := fmt.Errorf("%w: %w", ErrSendFailed, err)
		if derr := s.Store.Delete(ctx, key); derr != nil {
			return SentCode{}, errors.Join(sendErr, fmt.Errorf("challenge: removing the unsent SMS code: %w", derr))
		}
		return SentCode{}, sendErr
	}
	return SentCode{To: MaskPhone(number), ResendAt: now.Add(s.Limits.ResendAfter), Expires: expires, NewPhone: newPhone}, nil
}

// checkSendLimits refuses a send for challenge c to number from the client network
// ipScope if the user's second factor is locked or a send limit is reached, and
// otherwise counts the send against every limit. The limits are checked from the
// narrowest (this challenge) out, and a send refused by one is not counted by those
// after it.
func (s *Service) checkSendLimits(ctx context.Context, c Challenge, number, ipScope string, now time.Time) error {
	// A locked user cannot use a code, so none is sent (and none paid for).
	until, err := s.readUntil(ctx, store.UserKey(c.User, lockedName))
	if err != nil {
		return err
	}
	if now.Before(until) {
		return &LockedError{Until: until}
	}
	if err := s.claimResend(ctx, c, now); err != nil {
		return err
	}
	l := s.Limits
	if err := s.countSend(ctx, store.Key{Scope: ipScope, Name: smsSendsName}, l.SendsPerIPHour, time.Hour, now, SendLimitNetwork); err != nil {
		return err
	}
	if err := s.countSend(ctx, store.UserKey(c.User, smsSendsName), l.SendsPerUserHour, time.Hour, now, SendLimitUser); err != nil {
		return err
	}
	scopes := s.numberScopes(number)
	earlier, until, err := s.earlierSends(ctx, scopes[1:], now)
	if err != nil {
		return err
	}
	err = s.countSend(ctx, store.Key{Scope: scopes[0], Name: smsSendsName}, l.SendsPerNumberDay-int(earlier), 24*time.Hour, now, SendLimitNumber)
	var limited *SendLimitedError
	if errors.As(err, &limited) && limited.RetryAt.Before(until) {
		limited.RetryAt = until // never tell the user to come back too early
	}
	return err
}

// earlierSends adds up the sends counted in scopes, the number's scopes under previous
// encryption keys, and says when the last of their windows ends. A key rotation thus
// does not give a number a fresh day of sends.
func (s *Service) earlierSends(ctx context.Context, scopes []string, now time.Time) (int64, time.Time, error) {
	var total int64
	var last time.Time
	for _, scope := range scopes {
		b, err := s.Store.Get(ctx, store.Key{Scope: scope, Name: smsSendsName})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("challenge: reading SMS sends: %w", err)
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("challenge: SMS send count %q is not a number", b)
		}
		until, err := s.readUntil(ctx, store.Key{Scope: scope, Name: smsSendsName + "-until"})
		if err != nil {
			return 0, time.Time{}, err
		}
		total += n
		if until.After(last) {
			last = until
		}
	}
	return total, last, nil
}

// claimResend starts the wait before another code may be sent for c, or refuses the
// send if the wait is on. PutNew makes it atomic: of several sends at once, one goes.
func (s *Service) claimResend(ctx context.Context, c Challenge, now time.Time) error {
	key := store.ChallengeKey(c.ID, smsResendName)
	wait := s.Limits.ResendAfter
	next := formatUntil(now.Add(wait))
	for range 2 {
		stored, err := s.Store.PutNew(ctx, key, next, wait)
		if err != nil {
			return fmt.Errorf("challenge: starting the SMS resend wait: %w", err)
		}
		if stored {
			return nil
		}
		raw, err := s.Store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // the wait ended in between: claim again
		}
		if err != nil {
			return fmt.Errorf("challenge: reading the SMS resend wait: %w", err)
		}
		until, err := parseUntil(raw)
		if err != nil {
			return err
		}
		if now.Before(until) {
			return &SendLimitedError{RetryAt: until, Reason: SendLimitResend}
		}
		// Over by the Service's clock, but the store still holds it (the clocks differ a
		// little). Claim the ended wait, named after it so one request wins, as
		// beginAttempt claims an ended lock.
		claim := store.ChallengeKey(c.ID, smsResendName+"-claim:"+string(raw))
		won, err := s.Store.PutNew(ctx, claim, []byte{1}, wait)
		if err != nil {
			return fmt.Errorf("challenge: claiming the ended SMS resend wait: %w", err)
		}
		if !won {
			return &SendLimitedError{RetryAt: now.Add(wait), Reason: SendLimitResend}
		}
		if err := s.Store.Put(ctx, key, next, wait); err != nil {
			return fmt.Errorf("challenge: starting the SMS resend wait: %w", err)
		}
		return nil
	}
	return errors.New("challenge: SMS resend wait keeps changing")
}

// countSend counts a send against a limit of limit per window (a fixed window from the
// first send) and refuses it past the limit, saying when the window ends. The count comes
// first, atomically, so sends at once cannot all slip under the limit.
func (s *Service) countSend(ctx context.Context, key store.Key, limit int, window time.Duration, now time.Time, reason string) error {
	n, err := s.Store.Incr(ctx, key, window)
	if err != nil {
		return fmt.Errorf("challenge: counting SMS sends: %w", err)
	}
	// The window's end is noted beside the count when the window starts, to tell a
	// refused user when to come back.
	endKey := store.Key{Scope: key.Scope, Name: key.Name + "-until"}
	if n == 1 {
		if err := s.Store.Put(ctx, endKey, formatUntil(now.Add(window)), window); err != nil {
			return fmt.Errorf("challenge: noting the SMS send window: %w", err)
		}
	}
	if n <= int64(limit) {
		return nil
	}
	until, err := s.readUntil(ctx, endKey)
	if err != nil {
		return err
	}
	if !now.Before(until) {
		until = now.Add(window) // no note: never tell the user to come back too early
	}
	return &SendLimitedError{RetryAt: until, Reason: reason}
}

// smsCodeMAC is the MAC of a code sent for challenge id to number: the only form in
// which a code is stored.
func (s *Service) smsCodeMAC(id, number, code string) []byte {
	return s.Sealer.MAC(smsCodeData(id, number, code), smsCodePurpose)
}

// smsCodeData is what an SMS code's MAC covers. Ids and E.164 numbers hold no NUL, so
// it is unambiguous.
func smsCodeData(id, number, code string) []byte {
	return []byte(id + "\x00" + number + "\x00" + code)
}

// numberScopes are the store scopes of a phone number's send count, one per encryption
// key, the current key's first: named by a MAC of the number, so store keys never show
// phone numbers. The current key's scope counts new sends; the others hold the counts
// from before a key rotation, which still count against the number's limit.
func (s *Service) numberScopes(number string) []string {
	macs := s.Sealer.MACs([]byte(number), smsNumberPurpose)
	out := make([]string, len(macs))
	for i, m := range macs {
		out[i] = "phone:" + base64.RawURLEncoding.EncodeToString(m)
	}
	return out
}

// newSMSCode returns a uniformly random 6-digit code read from r.
func newSMSCode(r io.Reader) (string, error) {
	// The largest multiple of 10^6 below 2^32: values at or above it are drawn again,
	// so every code is equally likely.
	const limit = 4_294_000_000
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("challenge: reading random code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%0*d", smsDigits, v%1_000_000), nil
		}
	}
}

// smsTextIDs are the catalog messages of the SMS texts, one per CodeMessage.Purpose.
var smsTextIDs = map[policy.Purpose]string{
	policy.PurposeLogin:     "sms.code.login",
	policy.PurposeOperation: "sms.code.operation",
	policy.PurposeBind:      "sms.code.bind",
}

// codePurpose is what a code sent for c is for, as CodeMessage.Purpose names it: bind
// when it goes to a number being bound (newPhone), whatever the challenge; else the
// challenge's purpose. A code for a bind challenge sent to the phone already bound (the
// pages never send one; an API client could) confirms a change to the account: an
// operation.
func codePurpose(c Challenge, newPhone bool) policy.Purpose {
	switch {
	case newPhone:
		return policy.PurposeBind
	case c.Purpose == policy.PurposeLogin:
		return policy.PurposeLogin
	default:
		return policy.PurposeOperation
	}
}

// smsText is the message that carries a code, in lang: the issuer, the code, its
// lifetime and what it is for, and nothing else.
func smsText(lang *locale.Lang, purpose policy.Purpose, issuer, code string, lifetime time.Duration) string {
	// One line, whatever the configuration, and no brackets that would end the
	// Chinese signature 【…】 early.
	name := strings.Join(strings.Fields(strings.NewReplacer("【", "", "】", "").Replace(issuer)), " ")
	if name == "" {
		name = lang.Text("sms.name.none")
	}
	id, ok := smsTextIDs[purpose]
	if !ok {
		id = smsTextIDs[policy.PurposeOperation]
	}
	return lang.Text(id, "Name", name, "Code", code, "Lifetime", describeLifetime(lang, lifetime))
}

// describeLifetime says in lang how long a code lives, rounded down so the user never
// counts on more time than there is.
func describeLifetime(lang *locale.Lang, d time.Duration) string {
	if m := int(d / time.Minute); m >= 1 {
		return lang.Text("sms.lifetime.minutes", "Count", m)
	}
	return lang.Text("sms.lifetime.seconds", "Count", max(int(d/time.Second), 1))
}
