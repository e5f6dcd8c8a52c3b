package web

// Brand is the look of the console the gateway stands in front of, so its pages read
// as the console's own. Every field is optional; the zero Brand is the gateway's own
// plain look.
type Brand struct {
	// Name is the console's product name, shown in every page's header and title.
	Name string
}

// basePolicy is the Content-Security-Policy of the pages without a brand: nothing
// but their own inline style, inline images (the QR code), the gateway's own script,
// and forms to this site.
const basePolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// CSP is the Content-Security-Policy of the pages in this look.
func (b *Brand) CSP() string { return basePolicy }
