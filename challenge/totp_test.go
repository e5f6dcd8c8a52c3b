package challenge

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"
)

var rfcSecretSHA1 = []byte("12345678901234567890")

// RFC 4226 Appendix D, through the gateway's own code path (stepCode: the secret in
// b32, pquerna/otp's HOTP with totpOpts).
func TestHOTPRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	key := b32.EncodeToString(rfcSecretSHA1)
	for counter, w := range want {
		if got := stepCode(key, int64(counter)); got != w {
			t.Errorf("HOTP counter %d = %s, want %s", counter, got, w)
		}
	}
}

// RFC 6238 Appendix B, all three hashes at 8 digits, and the gateway's 6-digit SHA-1
// codes at the same times. The gateway only issues 6-digit SHA-1 codes, so the 8-digit
// SHA-1/SHA-256/SHA-512 vectors go through the same library call as stepCode with other
// options (hotp.GenerateCodeCustom), with the gateway's time counter (timeStep) and
// base32 (b32): a check that the 64-bit counter and the key reach the library intact
// and that the library is right for every hash RFC 6238 tests, not only the one in use.
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := []struct {
		name   string
		secret []byte
		alg    otp.Algorithm
	}{
		{"SHA1", rfcSecretSHA1, otp.AlgorithmSHA1},
		{"SHA256", []byte("12345678901234567890123456789012"), otp.AlgorithmSHA256},
		{"SHA512", []byte(strings.Repeat("1234567890", 6) + "1234"), otp.AlgorithmSHA512},
	}
	table := []struct {
		unix int64
		want [3]string
	}{
		{59, [3]string{"94287082", "46119246", "90693936"}},
		{1111111109, [3]string{"07081804", "68084774", "25091201"}},
		{1111111111, [3]string{"14050471", "67062674", "99943326"}},
		{1234567890, [3]string{"89005924", "91819424", "93441116"}},
		{2000000000, [3]string{"69279037", "90698825", "38618901"}},
		{20000000000, [3]string{"65353130", "77737706", "47863826"}}, // past 2038: 64-bit counter
	}
	for _, row := range table {
		tm := time.Unix(row.unix, 0)
		for i, s := range seeds {
			got, err := hotp.GenerateCodeCustom(b32.EncodeToString(s.secret), uint64(timeStep(tm)), hotp.ValidateOpts{Digits: otp.DigitsEight, Algorithm: s.alg})
			if err != nil || got != row.want[i] {
				t.Errorf("%s at %d = %s, %v; want %s", s.name, row.unix, got, err, row.want[i])
			}
		}
		if got, want := TOTPCode(rfcSecretSHA1, tm), row.want[0][2:]; got != want {
			t.Errorf("TOTPCode at %d = %s, want %s", row.unix, got, want)
		}
		if _, ok := MatchTOTP(rfcSecretSHA1, row.want[0][2:], tm); !ok {
			t.Errorf("MatchTOTP refused the RFC code at %d", row.unix)
		}
	}
}

func TestTimeStep(t *testing.T) {
	for _, c := range []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {-1, -1}, {-30, -1}, {-31, -2}, {20000000000, 666666666}} {
		if got := timeStep(time.Unix(c.unix, 0)); got != c.want {
			t.Errorf("timeStep(%d) = %d, want %d", c.unix, got, c.want)
		}
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	secret := rfcSecretSHA1
	now := time.Unix(1_700_000_015, 0) // middle of a step
	cur := timeStep(now)
	for _, c := range []struct {
		offset int64
		ok     bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		code := TOTPCode(secret, now.Add(time.Duration(c.offset)*30*time.Second))
		step, ok := MatchTOTP(secret, code, now)
		if ok != c.ok {
			t.Errorf("offset %d: ok = %v, want %v", c.offset, ok, c.ok)
		}
		if ok && step != cur+c.offset {
			t.Errorf("offset %d: step = %d, want %d", c.offset, step, cur+c.offset)
		}
	}
	// Window edges by the second: the code of step n is accepted from the start of step
	// n-1 to the end of step n+1, not a second outside.
	code := TOTPCode(secret, now)
	start := time.Unix(cur*30, 0)
	for _, c := range []struct {
		at time.Time
		ok bool
	}{
		{start.Add(-30 * time.Second), true},
		{start.Add(-31 * time.Second), false},
		{start.Add(59 * time.Second), true},
		{start.Add(60 * time.Second), false},
	} {
		if _, ok := MatchTOTP(secret, code, c.at); ok != c.ok {
			t.Errorf("at %v: ok = %v, want %v", c.at.Sub(start), ok, c.ok)
		}
	}
}

func TestMatchTOTPRejectsMalformed(t *testing.T) {
	now := time.Unix(59, 0)
	good := TOTPCode(rfcSecretSHA1, now) // "287082"
	for _, code := range []string{"", "28708", "2870820", " 287082", "287082 ", "287 082", "28708a", "２８７０８２", "+87082", good + "\x00"} {
		if _, ok := MatchTOTP(rfcSecretSHA1, code, now); ok {
			t.Errorf("MatchTOTP accepted %q", code)
		}
	}
	if _, ok := MatchTOTP(rfcSecretSHA1, good, now); !ok {
		t.Fatal("MatchTOTP refused the right code")
	}
	// Before the epoch there is no step -1 to try, and nothing panics.
	if _, ok := MatchTOTP(rfcSecretSHA1, TOTPCode(rfcSecretSHA1, time.Unix(0, 0)), time.Unix(10, 0)); !ok {
		t.Error("MatchTOTP refused the step-0 code at step 0")
	}
}

func TestMatchConsecutive(t *testing.T) {
	secret := rfcSecretSHA1
	now := time.Unix(1_700_000_015, 0)
	cur := timeStep(now)
	at := func(step int64) string { return stepCode(b32.EncodeToString(secret), step) }
	for _, c := range []struct {
		name         string
		code1, code2 string
		ok           bool
		step2        int64
	}{
		{"previous and current", at(cur - 1), at(cur), true, cur},
		{"current and next", at(cur), at(cur + 1), true, cur + 1},
		{"entered a little late", at(cur - 2), at(cur - 1), true, cur - 1},
		{"entered late, edge", at(cur - 3), at(cur - 2), true, cur - 2},
		{"too late", at(cur - 4), at(cur - 3), false, 0},
		{"too far ahead", at(cur + 1), at(cur + 2), false, 0},
		{"reversed", at(cur), at(cur - 1), false, 0},
		{"gap of one step", at(cur - 1), at(cur + 1), false, 0},
		{"same code twice", at(cur), at(cur), false, 0},
		{"first wrong", "000000", at(cur), false, 0},
		{"second malformed", at(cur - 1), "12345", false, 0},
	} {
		step2, ok := MatchConsecutive(secret, c.code1, c.code2, now)
		if ok != c.ok || step2 != c.step2 {
			t.Errorf("%s: got (%d, %v), want (%d, %v)", c.name, step2, ok, c.step2, c.ok)
		}
	}
	// At the epoch there are no steps before 0 to try, and nothing panics.
	if step2, ok := MatchConsecutive(secret, at(0), at(1), time.Unix(10, 0)); !ok || step2 != 1 {
		t.Errorf("steps 0 and 1 at step 0: got (%d, %v), want (1, true)", step2, ok)
	}
	if _, ok := MatchConsecutive(secret, at(0), at(0), time.Unix(10, 0)); ok {
		t.Error("the same step-0 code twice matched")
	}
}

// Past 2038 (2^31 seconds) and even past step 2^32 (the year 6053) the 64-bit time and
// counter go on: the code of step 2^32 is not the code of step 0.
func TestTOTPPast2038(t *testing.T) {
	key := b32.EncodeToString(rfcSecretSHA1)
	for _, unix := range []int64{1<<31 - 1, 1 << 31, 1 << 32, 1<<32*30 + 15} {
		now := time.Unix(unix, 0)
		code := TOTPCode(rfcSecretSHA1, now)
		if step, ok := MatchTOTP(rfcSecretSHA1, code, now); !ok || step != unix/30 {
			t.Errorf("at %d: MatchTOTP = (%d, %v), want (%d, true)", unix, step, ok, unix/30)
		}
	}
	if stepCode(key, 1<<32) == stepCode(key, 0) {
		t.Error("step 2^32 has the code of step 0: the counter was truncated to 32 bits")
	}
}

// stepCode fails closed: a key the library cannot read gives "", which no input matches.
func TestStepCodeBadKey(t *testing.T) {
	if got := stepCode("not base32!", 1); got != "" {
		t.Errorf("stepCode with a bad key = %q, want \"\"", got)
	}
}

func TestNewTOTPSecret(t *testing.T) {
	a, err := NewTOTPSecret(strings.NewReader(strings.Repeat("x", 20)))
	if err != nil || len(a) != 20 {
		t.Fatalf("NewTOTPSecret = %d bytes, %v; want 20 bytes", len(a), err)
	}
	if _, err := NewTOTPSecret(strings.NewReader("short")); err == nil {
		t.Error("NewTOTPSecret accepted a short read")
	}
}

func TestKeyURI(t *testing.T) {
	got := KeyURI("Example Console", "alice@example.com", rfcSecretSHA1)
	want := "otpauth://totp/Example%20Console:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Console&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("KeyURI =\n %s\nwant\n %s", got, want)
	}

	// Colons go; characters that mean something in a URI are escaped and read back.
	got = KeyURI("Acme: Prod & Co/#1", "bob:smith/?x=1&y#z", []byte{0xff})
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("scheme/host = %s/%s", u.Scheme, u.Host)
	}
	if label, want := strings.TrimPrefix(u.Path, "/"), "Acme Prod & Co/#1:bobsmith/?x=1&y#z"; label != want {
		t.Errorf("label = %q, want %q", label, want)
	}
	q := u.Query()
	if q.Get("issuer") != "Acme Prod & Co/#1" || q.Get("secret") != "74" || q.Get("digits") != "6" ||
		q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || len(q) != 5 {
		t.Errorf("query = %v", q)
	}
	if !strings.Contains(KeyURI("x", "y", []byte{1, 2, 3}), "secret=AEBAG&") {
		t.Error("secret not base32 without padding")
	}
	if strings.Contains(u.RawQuery, "+") {
		t.Errorf("query uses + for spaces: %s", u.RawQuery)
	}

	if got, want := KeyURI("", "alice", rfcSecretSHA1), "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30"; got != want {
		t.Errorf("KeyURI without issuer = %s", got)
	}
}

func TestQRCodePNG(t *testing.T) {
	uri := KeyURI("Example Console", "alice@example.com", rfcSecretSHA1)
	img, err := QRCodePNG(uri, 256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 256 || cfg.Height != 256 {
		t.Errorf("size %dx%d, want 256x256", cfg.Width, cfg.Height)
	}
	if _, err := QRCodePNG(uri, 0); err == nil {
		t.Error("size 0 accepted")
	}
	if _, err := QRCodePNG(uri, 10); err == nil {
		t.Error("size smaller than the code accepted")
	}

}

// TestTOTPCodeAgreesWithPquerna checks TOTPCode, which walks the time steps itself and
// takes only the HOTP codes from pquerna/otp, against pquerna/otp's whole TOTP (its own
// time counter and key handling) over a spread of times.
func TestTOTPCodeAgreesWithPquerna(t *testing.T) {
	secret := []byte("12345678901234567890")
	b32secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	for _, unix := range []int64{0, 59, 1111111109, 1234567890, 2000000000, 4102444800, 20000000000} {
		at := time.Unix(unix, 0)
		want, err := pqtotp.GenerateCodeCustom(b32secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if got := TOTPCode(secret, at); got != want {
			t.Errorf("at %d: TOTPCode = %s, pquerna/otp = %s", unix, got, want)
		}
	}
}
