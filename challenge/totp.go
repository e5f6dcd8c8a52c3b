package challenge

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// The TOTP parameters the gateway issues and accepts: RFC 6238 with HMAC-SHA1, 6 digits
// and a 30-second step. Many authenticator apps ignore any other algorithm, length or
// period written in the key URI, so these are fixed rather than configurable.
const (
	totpDigits = 6
	totpPeriod = 30 // seconds
	secretSize = 20 // bytes: 160 bits, the size RFC 4226 recommends
)

// b32 is base32 without padding: what key URIs carry and what users type into an
// authenticator app by hand.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpOpts are the HOTP parameters of every code the gateway computes (see totpDigits).
var totpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPSecret returns a new 160-bit TOTP secret read from r, which should be
// crypto/rand.Reader outside tests.
func NewTOTPSecret(r io.Reader) ([]byte, error) {
	secret := make([]byte, secretSize)
	if _, err := io.ReadFull(r, secret); err != nil {
		return nil, fmt.Errorf("challenge: reading random secret: %w", err)
	}
	return secret, nil
}

// TOTPCode returns the 6-digit code an authenticator app holding secret shows at time t.
func TOTPCode(secret []byte, t time.Time) string {
	return stepCode(b32.EncodeToString(secret), timeStep(t))
}

// MatchTOTP reports whether code is the TOTP code of secret at the time step of now or
// at one step either side (RFC 6238 §5.2 allows one step of clock drift and network
// delay), and returns the step it matched. The caller records that step so the same
// code, or one from an earlier step, is never accepted again. Input other than exactly
// six ASCII digits never matches.
//
// The codes come from pquerna/otp's HOTP (RFC 4226), but the window is walked here:
// totp.ValidateCustom answers only yes or no (stopping at the first step that matches),
// and the replay guard needs the step that matched.
func MatchTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	if !sixDigits(code) {
		return 0, false
	}
	key := b32.EncodeToString(secret)
	cur := timeStep(now)
	for st := cur - 1; st <= cur+1; st++ {
		if st < 0 {
			continue
		}
		// Every candidate is computed and compared in constant time, so the time taken
		// says nothing about how many digits of a guess were right. On the
		// one-in-a-million chance that two steps share a code, the later step wins: it
		// moves the replay guard further.
		if subtle.ConstantTimeCompare([]byte(code), []byte(stepCode(key, st))) == 1 {
			step, ok = st, true
		}
	}
	return step, ok
}

// MatchConsecutive reports whether code1 and code2 are the codes of two consecutive time
// steps of secret, code2 being the later one, and returns the step of code2. Binding an
// authenticator takes two consecutive codes (as AWS IAM does) to prove the app really
// holds the secret and its clock is right. code2's step may be one step ahead of now or
// up to two steps behind it, since typing two codes takes time. As in MatchTOTP, the
// window is walked here, for the step.
func MatchConsecutive(secret []byte, code1, code2 string, now time.Time) (step2 int64, ok bool) {
	if !sixDigits(code1) || !sixDigits(code2) {
		return 0, false
	}
	key := b32.EncodeToString(secret)
	cur := timeStep(now)
	// The codes of steps cur-3 … cur+1, each computed once; "" (matching nothing) before
	// the epoch.
	var codes [5]string
	for i := range codes {
		if st := cur - 3 + int64(i); st >= 0 {
			codes[i] = stepCode(key, st)
		}
	}
	for st := cur - 2; st <= cur+1; st++ {
		if st < 1 {
			continue
		}
		i := st - (cur - 3) // codes[i] is step st's code, codes[i-1] step st-1's
		m1 := subtle.ConstantTimeCompare([]byte(code1), []byte(codes[i-1]))
		m2 := subtle.ConstantTimeCompare([]byte(code2), []byte(codes[i]))
		if m1&m2 == 1 {
			step2, ok = st, true
		}
	}
	return step2, ok
}

// KeyURI returns the otpauth:// URI that authenticator apps read from a QR code
// (Google Authenticator's Key URI format). The label is "issuer:account"; colons are
// removed from both parts because the format uses one to separate them. An empty issuer
// leaves it out. The URI contains the secret: show it only to the user who binds it,
// and never put it in a URL of the gateway's own pages or in a log.
func KeyURI(issuer, account string, secret []byte) string {
	issuer = strings.ReplaceAll(issuer, ":", "")
	account = strings.ReplaceAll(account, ":", "")
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(url.PathEscape(issuer))
		b.WriteString(":")
	}
	b.WriteString(url.PathEscape(account))
	b.WriteString("?secret=")
	b.WriteString(b32.EncodeToString(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(queryEscape(issuer))
	}
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}

// QRCodePNG renders uri as a QR code (medium error correction) in a PNG image of
// size×size pixels, for the binding page to show inline.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size <= 0 {
		return nil, errors.New("challenge: QR code size must be positive")
	}
	// pquerna/otp renders the key URI the way authenticator apps expect it
	// (medium error correction, scaled to size).
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("challenge: reading key URI: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("challenge: encoding QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("challenge: writing QR code PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// stepCode is the 6-digit HOTP (RFC 4226) code of key, a secret in base32 as b32 writes
// it, for time step st (never negative: callers skip steps before the epoch), computed
// by pquerna/otp. The counter is 64-bit all the way, so codes keep coming past 2038. The
// library refuses only a key that is not base32, which b32 never writes; should it
// refuse one anyway, the code is "", which no six-digit input matches.
func stepCode(key string, st int64) string {
	code, err := hotp.GenerateCodeCustom(key, uint64(st), totpOpts)
	if err != nil {
		return ""
	}
	return code
}

// timeStep is the RFC 6238 time counter: whole 30-second steps since the Unix epoch,
// 64-bit so it keeps counting past 2038.
func timeStep(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - totpPeriod + 1) / totpPeriod // floor, not truncation toward zero
	}
	return u / totpPeriod
}

func sixDigits(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// queryEscape escapes a query value with %20 for spaces: several authenticator apps
// show a "+" in the issuer name literally.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
