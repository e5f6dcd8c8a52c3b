// Package e2e holds real-browser tests of the caddy-stepup user journeys: Caddy runs
// in-process with the repository's Caddyfile.example, read at test time (only its
// global options, its two ports, the console's SMS outbox file and the gateway's SMS
// provider are changed, to free loopback ports, the test's temporary directory and the
// test's SMS relay; the stepup block is the example's word for word but for its one
// sms line), so the gateway is in front of the demo console exactly as the README has
// users run it. Debian's Chromium, driven with chromedp, signs in (with login
// protection too), binds an authenticator app or a phone, answers challenges with
// authenticator codes and with codes by SMS (read from the relay, a loopback webhook
// that records every message the gateway sends), signs out everywhere and calls the
// API the way a user's browser does. The package has no code of its own; see the
// tests.
package e2e
