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
	// LoginRisk is the risk assessed at a console login: "normal", "challenged" or
	// "log_only" (anomalous during the rollout grace period), with the signals seen.
	LoginRisk(outcome string, signals []string)
	// ConsoleSession is a console session cookie judged: "removed" (its gateway session
	// ended, or it is not the gateway's), "unchecked" (the store did not answer) or
	// "attached" (the console set a new one for a live gateway session).
	ConsoleSession(outcome string)
	// StoreError is a request refused because the store could not answer.
	StoreError()
}

// NoEvents counts nothing.
type NoEvents struct{}

func (NoEvents) Decision(string)            {}
func (NoEvents) Verification(string)        {}
func (NoEvents) Login(string)               {}
func (NoEvents) StoreError()                {}
func (NoEvents) LoginRisk(string, []string) {}
func (NoEvents) ConsoleSession(string)      {}
