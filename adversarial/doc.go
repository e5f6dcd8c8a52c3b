// Package adversarial tries to get past the second factor the way an attacker
// would: it runs the real gateway in Caddy in front of consoles that parse
// requests like real frameworks do — the demo console (Go's encoding/json, form
// parsing and ServeMux) and a Python console with other, more lenient rules
// (query before body, JSON sniffed from any body, method overrides, decoded and
// folded paths, folded user names) — and every test is an attack that must fail:
// the gateway and the console must never read the same request differently.
package adversarial
