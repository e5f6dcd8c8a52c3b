package challenge

import (
	"strings"
	"testing"
)

func TestPhoneNumber(t *testing.T) {
	e := newEnv(t, Limits{})
	if n, ok, err := e.svc.PhoneNumber(e.ctx, "carol"); err != nil || ok || n != "" {
		t.Fatalf("no phone: %q %v %v", n, ok, err)
	}
	e.bindPhone("carol", "+15551234567")
	if n, ok, err := e.svc.PhoneNumber(e.ctx, "carol"); err != nil || !ok || n != "+15551234567" {
		t.Fatalf("bound phone: %q %v %v", n, ok, err)
	}
	// Sealed for carol: the record copied to another user does not open, and the error
	// holds no number.
	f, err := e.svc.Factors(e.ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := saveFactors(e.ctx, e.st, "mallory", f); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := e.svc.PhoneNumber(e.ctx, "mallory"); err == nil || ok || n != "" || strings.Contains(err.Error(), "4567") {
		t.Fatalf("copied record: %q %v %v", n, ok, err)
	}
}

func TestSMSSegments(t *testing.T) {
	for text, want := range map[string]int{
		"":                       1,
		strings.Repeat("a", 160): 1,
		strings.Repeat("a", 161): 2,
		strings.Repeat("控", 70):  1,
		strings.Repeat("控", 71):  2,
	} {
		if got := SMSSegments(text); got != want {
			t.Errorf("SMSSegments(%d characters) = %d, want %d", len([]rune(text)), got, want)
		}
	}
}

func TestNoticeLang(t *testing.T) {
	e := newEnv(t, Limits{})
	if l, err := e.svc.NoticeLang(e.ctx, "carol"); err != nil || l != "" {
		t.Fatalf("never seen: %q %v", l, err)
	}
	if err := e.svc.RememberLang(e.ctx, "carol", "zh-Hans"); err != nil {
		t.Fatal(err)
	}
	if l, err := e.svc.NoticeLang(e.ctx, "carol"); err != nil || l != "zh-Hans" {
		t.Fatalf("remembered: %q %v", l, err)
	}
}
