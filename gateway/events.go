package gateway

// Events are what the flows report for metrics. The Caddy module counts them.
type Events interface {
	// Decision is a protected request's outcome: "allow", "challenge", "bind",
	// "sign_in" or "refused".
	Decision(verdict string)
	// Verification is a second-factor answer's result: "passed" or an error Code.
	Verification(result string)
	// Login is a console login's outcome: "passed", "held" or "released".
	Login(outcome string)
	// StoreError is a request refused because the store could not answer.
	StoreError()
}

// NoEvents counts nothing.
type NoEvents struct{}

func (NoEvents) Decision(string)     {}
func (NoEvents) Verification(string) {}
func (NoEvents) Login(string)        {}
func (NoEvents) StoreError()         {}
