// Package e2e holds real-browser tests of the caddy-stepup user journeys: Caddy runs
// in-process with the stepup gateway in front of the demo console (as in
// Caddyfile.example, on free loopback ports), and Debian's Chromium, driven with
// chromedp, signs in, binds an authenticator app, answers challenges and calls the API
// the way a user's browser does. The package has no code of its own; see the tests.
package e2e
