package challenge

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"UK mobile", "+447400123456", "+447400123456"},
		{"UK, spaces around", " +44 20 7946 0123 ", "+442079460123"}, // Ofcom's London drama range
		{"UK, trunk prefix in parentheses", "+44 (0) 20 7946 0123", "+442079460123"},
		{"UK, (0) against the number", "+44 (0)7400 123456", "+447400123456"},
		{"UK, trunk 0 after the country code", "+44 07400 123456", "+447400123456"},
		{"US, parentheses and dash", "+1 (201) 555-0123", "+12015550123"}, // 555-01xx: fictional
		{"US, dots", "+1.201.555.0123", "+12015550123"},
		{"US, no-break spaces", "+1\u00a0201\u00a05550123", "+12015550123"},
		{"Germany, Berlin landline", "+49 30 1234567", "+49301234567"},
		{"Germany, mobile", "+49 151 23456789", "+4915123456789"},
		{"mainland China mobile", "+86 138 0013 8000", "+8613800138000"},
		{"mainland China mobile, dashes", "+86-139-1234-5678", "+8613912345678"},
		{"France mobile", "+33 6 12 34 56 78", "+33612345678"},
		{"France, trunk prefix in parentheses", "+33 (0)6 12 34 56 78", "+33612345678"},
		{"Russia mobile", "+7 916 123-45-67", "+79161234567"},
		{"UAE mobile", "+971 50 123 4567", "+971501234567"},
		{"Niue: 7 digits in all", "+683 4002", "+6834002"},
	} {
		got, err := NormalizePhone(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: NormalizePhone(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizePhoneRefused(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no number"},
		{"blank", "   ", "no number"},
		{"national format", "07400 123456", "start with +"},
		{"national format, London", "020 7946 0123", "start with +"},
		{"00 prefix", "0044 7400 123456", "start with +"},
		{"00 prefix, spaced", "00 44 7400 123456", "start with +"},
		{"no +", "447400123456", "start with +"},
		{"+ alone", "+", "no digits"},
		{"country code 0", "+0 7400 123456", "cannot start with 0"},
		{"unknown country code", "+999 123 456 789", "known country code"},
		{"country code alone", "+44", "too short"},
		{"country code and a digit", "+44 7", "too short"},
		{"too short, UK", "+44 (0) 77009", "too short"},
		{"too short, US", "+1234567", "too short"},
		{"US number without its area code", "+12345678", "too short"},
		{"too short, UK local number", "+44 946 012", "too short"},
		{"too long for E.164", "+1234567890123456", "too long"},
		{"too long for its country", "+123456789012345", "too long"},
		{"too long, China", "+86 138 0013 800000", "too long"},
		{"wrong length, Singapore", "+65 9123 45678", "right number of digits"},
		// A digit short or extra where the country has numbers of that length too.
		{"China mobile a digit short", "+86 138 0013 800", "no digit is missing or extra"},
		{"China mobile a digit extra", "+86 138 0013 80000", "no digit is missing or extra"},
		{"UAE mobile a digit short", "+971 50 123 456", "no digit is missing or extra"},
		{"not in use: Ofcom's drama mobiles", "+44 7700 900123", "not a number in use"},
		{"not in use: US area code 555", "+1 555 123 4567", "not a number in use"},
		{"extension x", "+44 7400 123456 x123", "leave out the extension"},
		{"extension ext.", "+44 7400 123456 ext. 12", "leave out the extension"},
		{"letters", "+1 800 FLOWERS", "only digits"},
		{"letter O for zero", "+44 74OO 123456", "only digits"},
		{"second +", "+44+7400123456", "only digits"},
		{"tel: URI", "tel:+447400123456", "only digits"},
		{"fullwidth digits", "+４４7400123456", "only digits"},
	} {
		got, err := NormalizePhone(tc.in)
		var ip *InvalidPhoneError
		if !errors.As(err, &ip) || !errors.Is(err, ErrInvalidPhone) {
			t.Errorf("%s: NormalizePhone(%q) = %q, %v; want an InvalidPhoneError", tc.name, tc.in, got, err)
			continue
		}
		if !strings.Contains(ip.Reason, tc.want) || !strings.HasSuffix(ip.Reason, "; "+phoneExample) {
			t.Errorf("%s: NormalizePhone(%q): reason %q, want it to say %q and give the example", tc.name, tc.in, ip.Reason, tc.want)
		}
		if digits := strings.Map(keepDigits, tc.in); len(digits) > 6 && strings.Contains(strings.Map(keepDigits, strings.TrimSuffix(err.Error(), phoneExample)), digits) {
			t.Errorf("%s: error holds the number: %v", tc.name, err)
		}
	}
}

func keepDigits(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+447400123456":  "+44 ••• ••• 3456",
		"+442079460123":  "+44 ••• ••• 0123",
		"+12015550123":   "+1 ••• ••• 0123",
		"+4915123456789": "+49 ••• ••• 6789",
		"+49301234567":   "+49 ••• ••• 4567",
		"+33612345678":   "+33 ••• ••• 5678",
		"+8613800138000": "+86 ••• ••• 8000",
		"+79161234567":   "+7 ••• ••• 4567",
		"+353851234567":  "+353 ••• ••• 4567",
		"+971501234567":  "+971 ••• ••• 4567",
		"+2348012345678": "+234 ••• ••• 5678",
		// Bound before numbers were checked against libphonenumber: still masked by their
		// country code.
		"+447700900123": "+44 ••• ••• 0123",
		"+15551234567":  "+1 ••• ••• 4567",
		"+97150123456":  "+971 ••• ••• 3456",
		// Too short to show four digits of, or unreadable: all hidden.
		"+6834002":     "•••",
		"+12":          "•••",
		"":             "•••",
		"+99912345678": "•••",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every number NormalizePhone accepts is masked with its own country code.
func TestMaskNormalizedPhone(t *testing.T) {
	for in, cc := range map[string]string{
		"+44 7400 123456": "+44 ", "+1 201 555 0123": "+1 ", "+86 138 0013 8000": "+86 ",
		"+49 151 23456789": "+49 ", "+33 6 12 34 56 78": "+33 ", "+353 85 123 4567": "+353 ",
	} {
		n, err := NormalizePhone(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := MaskPhone(n); !strings.HasPrefix(got, cc) || !strings.HasSuffix(got, n[len(n)-4:]) {
			t.Errorf("MaskPhone(%q) = %q, want %s••• ••• %s", n, got, cc, n[len(n)-4:])
		}
	}
}

// Every reason has a name the pages can say in another language.
func TestEveryPhoneProblemNamed(t *testing.T) {
	for _, reason := range []string{phoneEmpty, phoneNoDigits, phoneNoPlus, phoneBadChar, phoneExtension, phoneZeroCC,
		phoneUnknownCC, phoneTooShort, phoneTooLong, phoneTooLongCC, phoneWrongLength, phoneNotInService} {
		if invalidPhone(reason).Problem == "" {
			t.Errorf("reason %q has no problem name", reason)
		}
	}
}
