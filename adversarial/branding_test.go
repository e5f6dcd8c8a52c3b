package adversarial

import (
	"net/http"
	"strings"
	"testing"
)

// Operators who configure handle_errors answer the store outage and refused
// requests with their own page; without it, the gateway's own clear answer stays.
func TestHandleErrorsBrandsOutagesAndRefusals(t *testing.T) {
	c := startGoConsole(t)
	outage := "\t\tstore redis redis://127.0.0.1:" + freePort(t) + "/0\n" +
		"\t\tsigning_key " + randomKey(t) + "\n\t\tencryption_key " + randomKey(t) + "\n" + loginBlock(whoami) + protectBlock
	branded := "\thandle_errors {\n\t\trespond \"Example Console: error {err.status_code}\" {err.status_code}\n\t}\n"

	s := startGateway(t, c, c.URL, branded+stepupSite(outage))
	resp := s.client().login("carol")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Body != "Example Console: error 503" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("branded outage: %d %q Retry-After %q", resp.StatusCode, resp.Body, resp.Header.Get("Retry-After"))
	}
	resp = s.client().do("DELETE", "/api/instances%2fi-1001", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusBadRequest || resp.Body != "Example Console: error 400" {
		t.Fatalf("branded refusal: %d %q", resp.StatusCode, resp.Body)
	}
	// A challenge is part of a flow, not an error to brand.
	if resp := s.client().do("GET", "/.stepup/challenge/x", nil, "Accept", "text/html"); strings.Contains(resp.Body, "Example Console") {
		t.Fatalf("the gateway's own page was branded: %d %q", resp.StatusCode, resp.Body)
	}
}

func TestWithoutHandleErrorsTheGatewayAnswers(t *testing.T) {
	c := startGoConsole(t)
	outage := "\t\tstore redis redis://127.0.0.1:" + freePort(t) + "/0\n" +
		"\t\tsigning_key " + randomKey(t) + "\n\t\tencryption_key " + randomKey(t) + "\n" + loginBlock(whoami) + protectBlock
	s := startGateway(t, c, c.URL, stepupSite(outage))
	resp := s.client().login("carol")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(resp.Body, "temporarily unavailable") || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("default outage answer: %d %q", resp.StatusCode, resp.Body)
	}
}
