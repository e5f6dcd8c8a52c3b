package democonsole

import (
	_ "embed"
	"net/http"
)

// LogoPath is where the console serves its logo, to everyone (no sign-in): its own
// header shows it, and so do the gateway's pages in front of it (Caddyfile.example's
// `brand { logo /static/logo.svg }`), from the same origin.
const LogoPath = "/static/logo.svg"

//go:embed static/logo.svg
var logoSVG []byte

// logo serves the console's logo, an SVG with nothing active in it.
func (c *Console) logo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "public, max-age=3600")
	// Opened on its own, the SVG is a document: it may run nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(logoSVG)
}
