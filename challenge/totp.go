package challenge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"image/png"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
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
	return hotp(secret, uint64(timeStep(t)), totpDigits, sha1.New)
}

// MatchTOTP reports whether code is the TOTP code of secret at the time step of now or
// at one step either side (RFC 6238 §5.2 allows one step of clock drift and network
// delay), and returns the step it matched. The caller records that step so the same
// code, or one from an earlier step, is never accepted again. Input other than exactly
// six ASCII digits never matches.
func MatchTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	if !sixDigits(code) {
		return 0, false
	}
	mac := hmac.New(sha1.New, secret)
	cur := timeStep(now)
	for st := cur - 1; st <= cur+1; st++ {
		if st < 0 {
			continue
		}
		// Every candidate is computed and compared in constant time, so the time taken
		// says nothing about how many digits of a guess were right. On the
		// one-in-a-million chance that two steps share a code, the later step wins: it
		// moves the replay guard further.
		if subtle.ConstantTimeCompare([]byte(code), []byte(hotpMAC(mac, uint64(st), totpDigits))) == 1 {
			step, ok = st, true
		}
	}
	return step, ok
}

// MatchConsecutive reports whether code1 and code2 are the codes of two consecutive time
// steps of secret, code2 being the later one, and returns the step of code2. Binding an
// authenticator takes two consecutive codes (as AWS IAM does) to prove the app really
// holds the secret and its clock is right. code2's step may be one step ahead of now or
// up to two steps behind it, since typing two codes takes time.
func MatchConsecutive(secret []byte, code1, code2 string, now time.Time) (step2 int64, ok bool) {
	if !sixDigits(code1) || !sixDigits(code2) {
		return 0, false
	}
	mac := hmac.New(sha1.New, secret)
	cur := timeStep(now)
	for st := cur - 2; st <= cur+1; st++ {
		if st < 1 {
			continue
		}
		m1 := subtle.ConstantTimeCompare([]byte(code1), []byte(hotpMAC(mac, uint64(st-1), totpDigits)))
		m2 := subtle.ConstantTimeCompare([]byte(code2), []byte(hotpMAC(mac, uint64(st), totpDigits)))
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

// hotp is RFC 4226 HOTP with any digit count and hash, so the RFC 4226 and RFC 6238
// test vectors (SHA-256 and SHA-512 included) run through the same code as production.
func hotp(secret []byte, counter uint64, digits int, h func() hash.Hash) string {
	return hotpMAC(hmac.New(h, secret), counter, digits)
}

// hotpMAC is hotp with the HMAC keyed already, so checking a window of steps keys it
// once.
func hotpMAC(mac hash.Hash, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Reset()
	mac.Write(msg[:])
	var buf [sha512.Size]byte
	sum := mac.Sum(buf[:0])
	// Dynamic truncation (RFC 4226 §5.3).
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	code := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		code[i] = byte('0' + bin%10)
		bin /= 10
	}
	return string(code)
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
