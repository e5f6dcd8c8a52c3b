package challenge

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
)

// This file measures SMS texts in segments, the unit carriers charge by (3GPP TS 23.038
// and 23.040). A text whose every character is in the GSM 7-bit alphabet goes as GSM-7:
// 160 characters in one segment, or 153 a segment when it is split (the rest holds the
// header that joins the parts); the extension table's characters take two. Any other
// character, a Chinese one for instance, sends the whole text as UCS-2: 70 UTF-16 units
// in one segment, 67 a segment when split. A character is never split between parts.

// Segment sizes, in septets (GSM-7) or UTF-16 units (UCS-2).
const (
	gsmSingle  = 160
	gsmPart    = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsmBasic is the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) but for the escape
// to the extension table.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 7-bit extension table: each takes two septets, escape and
// character.
const gsmExtension = "\f^{}\\[~]|€"

// smsLength is how a text goes by SMS.
type smsLength struct {
	ucs2     bool // sent as UCS-2, not GSM-7
	units    int  // its length in septets (GSM-7) or UTF-16 units (UCS-2)
	segments int  // how many segments carry it
}

// limit is how many units fit one segment in the text's encoding.
func (l smsLength) limit() int {
	if l.ucs2 {
		return ucs2Single
	}
	return gsmSingle
}

// String says it for the operator's log: "2 segments (UCS-2, 75 of 70 characters)".
func (l smsLength) String() string {
	enc := "GSM-7"
	if l.ucs2 {
		enc = "UCS-2"
	}
	return fmt.Sprintf("%d segments (%s, %d of %d characters)", l.segments, enc, l.units, l.limit())
}

// measureSMS returns how text goes by SMS: its encoding, length and segments. An empty
// text takes one segment.
func measureSMS(text string) smsLength {
	l := smsLength{ucs2: strings.ContainsFunc(text, func(r rune) bool {
		return !strings.ContainsRune(gsmBasic, r) && !strings.ContainsRune(gsmExtension, r)
	})}
	size := func(r rune) int {
		switch {
		case l.ucs2:
			return max(utf16.RuneLen(r), 1) // an invalid rune is sent as U+FFFD
		case strings.ContainsRune(gsmExtension, r):
			return 2
		default:
			return 1
		}
	}
	for _, r := range text {
		l.units += size(r)
	}
	l.segments = 1
	if l.units <= l.limit() {
		return l
	}
	part := gsmPart
	if l.ucs2 {
		part = ucs2Part
	}
	used := 0
	for _, r := range text {
		n := size(r)
		if used+n > part {
			l.segments++
			used = 0
		}
		used += n
	}
	return l
}

// smsPurposes are the purposes a code message may have, each with its own text.
var smsPurposes = []policy.Purpose{policy.PurposeLogin, policy.PurposeOperation, policy.PurposeBind}

// longestSMS returns the longest text, in segments and then units, the Service may send
// in lang with issuer as the name, with any purpose and any lifetime up to ttl, and that
// text's purpose.
func longestSMS(lang *locale.Lang, issuer string, ttl time.Duration) (policy.Purpose, smsLength) {
	lifetimes := make([]time.Duration, 0, 70)
	for sec := 1; sec < 60; sec++ { // a code whose challenge ends within the minute
		lifetimes = append(lifetimes, time.Duration(sec)*time.Second)
	}
	for m := 1; m <= int(ttl/time.Minute); m++ {
		lifetimes = append(lifetimes, time.Duration(m)*time.Minute)
	}
	var (
		worst   smsLength
		purpose policy.Purpose
	)
	for _, p := range smsPurposes {
		for _, d := range lifetimes {
			l := measureSMS(smsText(lang, p, issuer, "000000", d))
			if l.segments > worst.segments || l.segments == worst.segments && l.units > worst.units {
				worst, purpose = l, p
			}
		}
	}
	return purpose, worst
}

// CheckSMSLength reports whether every SMS text the Service may send, in each language
// and for each purpose and lifetime, fits one SMS segment with its Issuer as the name.
// A longer text is still sent, as parts the phone joins; but carriers charge for every
// part, and a text that needs Unicode (a Chinese one, or any text whose issuer's name
// has a character outside the GSM 7-bit alphabet) gets only 70 characters a segment.
// The error names each language whose texts are too long, for the operator's log: it
// is a warning, not a reason to refuse the configuration. Without an SMS sender it is
// nil.
func (s *Service) CheckSMSLength() error {
	if s.SMS == nil {
		return nil
	}
	var long []string
	for _, lang := range locale.All() {
		purpose, l := longestSMS(lang, s.Issuer, s.Limits.SMSCodeTTL)
		if l.segments > 1 {
			long = append(long, fmt.Sprintf("%s (%s): %v", lang.Code(), purpose, l))
		}
	}
	if long == nil {
		return nil
	}
	return fmt.Errorf("challenge: with the issuer name %q some SMS texts take more than one segment, which carriers charge for each: %s; a shorter name, in the GSM 7-bit alphabet for English texts, keeps each in one",
		strings.Join(strings.Fields(s.Issuer), " "), strings.Join(long, "; "))
}
