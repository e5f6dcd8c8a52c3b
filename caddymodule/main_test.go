package caddymodule

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Keys for the golden files: strong enough to pass the load-time check, and
	// kept as placeholders in the JSON.
	os.Setenv("STEPUP_GOLDEN_SIGNING_KEY", "Zq3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2")
	os.Setenv("STEPUP_GOLDEN_ENCRYPTION_KEY", "Hh8Jj2Kk4Ll6Mm8Nn0Pp2Qq4Rr6Ss8Tt0Uu2Vv4Ww6X")
	os.Setenv("STEPUP_GOLDEN_SIGNING_KEY_PREVIOUS", "Yp4Wm8Rt2Vn6Kc0Xq3Zs7Lb1Hd5Jf9Gg2Mn4Pr6Tu8W")
	os.Setenv("STEPUP_GOLDEN_ENCRYPTION_KEY_PREVIOUS", "Cc3Ee5Gg7Ii9Kk1Mm3Oo5Qq7Ss9Uu1Ww3Yy5Aa7Bb9Dd")
	os.Exit(m.Run())
}
