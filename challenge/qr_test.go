package challenge_test

import (
	"testing"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/internal/totptest"
)

// The QR code of the binding page holds the key URI, as a phone's camera reads it.
func TestQRCodeScansToTheKeyURI(t *testing.T) {
	uri := challenge.KeyURI("Demo Console", "alice", []byte("12345678901234567890"))
	img, err := challenge.QRCodePNG(uri, 256)
	if err != nil {
		t.Fatal(err)
	}
	got, err := totptest.ScanQR(img)
	if err != nil || got != uri {
		t.Fatalf("QR code scans to %q (%v), want %q", got, err, uri)
	}
}
