// Package e2e holds real-browser tests of the caddy-stepup user journeys: Caddy runs
// in-process with the repository's Caddyfile.example, read at test time (only its
// global options and its two ports are changed, to free loopback ports and the test's
// temporary directory; the stepup block is the example's word for word), so the
// gateway is in front of the demo console exactly as the README has users run it.
// Debian's Chromium, driven with chromedp, signs in (with login protection too),
// binds an authenticator app, answers challenges, signs out everywhere and calls the
// API the way a user's browser does. The package has no code of its own; see the
// tests.
package e2e
