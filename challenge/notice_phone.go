package challenge

import (
	"context"
	"fmt"
)

// This file is what security notices (package notify) ask of the Service: the number
// of the user's bound phone, to send a notice to, and how many SMS segments a text
// takes.

// PhoneNumber returns the E.164 number of user's bound phone, opened from its seal;
// ok is false when no phone is bound. The number is for sending a message to: never
// log it.
func (s *Service) PhoneNumber(ctx context.Context, user string) (number string, ok bool, err error) {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return "", false, err
	}
	if f.Phone == nil {
		return "", false, nil
	}
	n, err := s.Sealer.Open(f.Phone.SealedNumber, phoneBoundTo(user))
	if err != nil {
		return "", false, fmt.Errorf("challenge: opening the bound phone number: %w", err)
	}
	return string(n), true, nil
}

// SMSSegments is how many SMS segments text takes: 160 GSM 7-bit characters or 70
// UCS-2 ones (a Chinese text, say) fit one, and a longer text goes as parts of 153 or
// 67 that carriers charge for each.
func SMSSegments(text string) int { return measureSMS(text).segments }

// NoticeLang returns the code of the language user last used the gateway's pages in
// (Factors.Lang), for the security notices they are sent, or "" when it is not known.
func (s *Service) NoticeLang(ctx context.Context, user string) (string, error) {
	f, err := loadFactors(ctx, s.Store, user)
	return f.Lang, err
}
