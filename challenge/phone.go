package challenge

import (
	"errors"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phoneExample is the example every InvalidPhoneError gives: a number of Ofcom's London
// range set aside for drama, valid in form without being anyone's number. (The drama
// mobiles, 07700 900xxx, are not numbers in use, and NormalizePhone refuses them.)
const phoneExample = "enter the number in international format, e.g. +44 20 7946 0123"

// The reasons of the InvalidPhoneErrors NormalizePhone returns, before the example.
const (
	phoneEmpty        = "no number given"
	phoneNoDigits     = "no digits given"
	phoneNoPlus       = "start with + and the country code"
	phoneBadChar      = "a phone number has only digits after the leading +, with spaces, dashes, dots or parentheses between them"
	phoneExtension    = "leave out the extension: the code is sent by text message to the number itself"
	phoneZeroCC       = "the country code cannot start with 0: leave out the 0 of the national number"
	phoneUnknownCC    = "the number does not start with a known country code"
	phoneTooShort     = "the number is too short for its country"
	phoneTooLong      = "the number is too long (E.164 numbers have at most 15 digits)"
	phoneTooLongCC    = "the number is too long for its country"
	phoneWrongLength  = "the number does not have the right number of digits for its country"
	phoneNotInService = "this is not a number in use in its country: check the country code, and that no digit is missing or extra"
)

// NormalizePhone returns s as an E.164 phone number ("+447400123456"), or an
// *InvalidPhoneError whose Reason tells the user how to enter it. Spaces, dashes, dots
// and parentheses are removed, and a "(0)" (the national trunk prefix, as in
// "+44 (0) 7400 123456"); what remains must be a "+", then the country code and the
// number, and libphonenumber (github.com/nyaruka/phonenumbers) must know it as a valid
// number of that country: a number of the right length in a range that is assigned or
// assignable there. A trunk 0 typed after the country code ("+44 07400 123456") is
// dropped, as when dialling from abroad. A national number ("07400 123456") or an
// international prefix ("0044…") is refused: the country must be explicit. So are
// letters and extensions.
func NormalizePhone(s string) (string, error) {
	// "+44 (0) 7400 123456": the (0) is the national trunk prefix, left out when
	// dialling from abroad.
	s = strings.TrimSpace(strings.ReplaceAll(s, "(0)", ""))
	if s == "" {
		return "", invalidPhone(phoneEmpty)
	}
	// Only digits, a leading + and separators go to the parser: phonenumbers itself would
	// read letters as a keypad ("+1 800 FLOWERS"), fullwidth digits, a "tel:" prefix
	// and an extension ("x123"), none of which is a number to text.
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
		default:
			if n, err := phonenumbers.Parse(s, ""); err == nil && n.GetExtension() != "" {
				return "", invalidPhone(phoneExtension)
			}
			return "", invalidPhone(phoneBadChar)
		}
	}
	n := b.String()
	switch digits := strings.TrimPrefix(n, "+"); {
	case !strings.HasPrefix(n, "+"):
		return "", invalidPhone(phoneNoPlus)
	case digits == "":
		return "", invalidPhone(phoneNoDigits)
	case digits[0] == '0':
		return "", invalidPhone(phoneZeroCC)
	case len(digits) > 15:
		return "", invalidPhone(phoneTooLong)
	}
	num, err := phonenumbers.Parse(n, "")
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "", invalidPhone(phoneUnknownCC)
	case err != nil:
		// What else a "+" and 1 to 15 digits can get: ErrNotANumber or ErrTooShortNSN, a
		// country code with one digit or none after it.
		return "", invalidPhone(phoneTooShort)
	}
	if !phonenumbers.IsValidNumber(num) {
		// Say why as closely as the number's country allows.
		switch phonenumbers.IsPossibleNumberWithReason(num) {
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY: // a local number: no area code
			return "", invalidPhone(phoneTooShort)
		case phonenumbers.TOO_LONG:
			return "", invalidPhone(phoneTooLongCC)
		case phonenumbers.INVALID_LENGTH:
			return "", invalidPhone(phoneWrongLength)
		default: // IS_POSSIBLE: a length some number of the country has, in no range of it
			return "", invalidPhone(phoneNotInService)
		}
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func invalidPhone(reason string) *InvalidPhoneError {
	return &InvalidPhoneError{Reason: reason + "; " + phoneExample, Problem: phoneProblems[reason]}
}

// phoneProblems names each reason for the pages, which say it in the reader's language.
var phoneProblems = map[string]string{
	phoneEmpty: "empty", phoneNoDigits: "no-digits", phoneNoPlus: "no-plus", phoneBadChar: "bad-character",
	phoneExtension: "extension", phoneZeroCC: "zero-country-code", phoneUnknownCC: "unknown-country-code",
	phoneTooShort: "too-short", phoneTooLong: "too-long", phoneTooLongCC: "too-long-for-country",
	phoneWrongLength: "wrong-length", phoneNotInService: "not-in-service",
}

// MaskPhone returns an E.164 number with all but its country code and last four digits
// hidden: "+447400123456" → "+44 ••• ••• 3456". It is what pages show and errors may
// name. The country code is the one libphonenumber reads from the number, which need not
// be a valid number (a phone bound before the number's range was withdrawn is still
// masked). A number it cannot read, or with fewer than 8 digits in all (whose last four
// would give most of it away), is masked entirely: "•••".
func MaskPhone(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	if len(digits) < 8 {
		return "•••"
	}
	n, err := phonenumbers.Parse("+"+digits, "")
	if err != nil {
		return "•••"
	}
	// A country code has 1 to 3 digits: at least four are left after it.
	return "+" + strconv.Itoa(int(n.GetCountryCode())) + " ••• ••• " + digits[len(digits)-4:]
}
