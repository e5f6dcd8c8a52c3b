package totptest

import (
	"bytes"
	"fmt"
	"image/png"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// ScanQR reads the text of the QR code in a PNG image, as a phone's camera does when
// the user scans the binding page: with a pure-Go decoder (gozxing), so no system
// package is needed.
func ScanQR(pngImage []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(pngImage))
	if err != nil {
		return "", fmt.Errorf("not a PNG: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("reading the image: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", fmt.Errorf("no QR code could be read: %w", err)
	}
	return res.GetText(), nil
}
