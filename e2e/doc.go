// Package e2e holds real-browser tests of the caddy-stepup user journeys. Caddy runs
// in-process with the repository's Caddyfile.example, read at test time and adapted as
// it is: the example takes its ports, its SMS outbox and its log from environment
// placeholders ({$STEPUP_DEMO_PORT:8080} and the like), which each test sets to free
// loopback ports and files in its temporary directory. So the gateway is in front of
// the demo console exactly as the README has users run it. Debian's Chromium, driven
// with chromedp, signs in (with login protection too), binds an authenticator app
// (whose QR code it reads) or a phone, answers challenges with authenticator codes
// (internal/totptest) and with codes by SMS (read from the outbox the example's
// development SMS provider writes), signs out everywhere and calls the API the way a
// user's browser does.
//
// The files: stack_test.go runs Caddy, browser_test.go drives Chromium (a browser may
// ask for a language: newPageIn), login_test.go, binding_test.go, challenge_test.go and
// sms_test.go check the pages of each step, the journeys_*_test.go files hold the
// journeys by topic (journeys_language_test.go: Chinese from the browser and the
// switch), brand_test.go checks the console's look and its CSP in the browser, and
// a11y_test.go walks every gateway page in each language at desktop and phone width with
// axe-core (a11y_helpers_test.go holds the checks and writes a picture of each page to
// screenshots/). The package has no code of its own.
package e2e
