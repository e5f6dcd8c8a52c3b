package policy

import "fmt"

// Method is a second-factor method a user can pass: the one vocabulary of policy,
// challenges and pages.
type Method string

const (
	// TOTP is a code from an authenticator app (RFC 6238).
	TOTP Method = "totp"
	// SMS is a code sent to the user's bound phone number.
	SMS Method = "sms"
	// Recovery is one of the user's single-use recovery codes, for a lost device. It
	// passes a challenge in place of the methods on offer, but a proof from it does not
	// lower protection, remove the last factor or make new codes (see RealProof). It is
	// never configured: ParseMethod refuses it.
	Recovery Method = "recovery"
)

// Purpose is what a challenge is for.
type Purpose string

const (
	// PurposeOperation: a protected operation waits for the second factor.
	PurposeOperation Purpose = "operation"
	// PurposeLogin: a held console login waits for it.
	PurposeLogin Purpose = "login"
	// PurposeBind: the user binds a new second factor, after passing the existing one.
	PurposeBind Purpose = "bind"
)

// ParseMethod turns a configured method name into a Method.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case TOTP, SMS:
		return m, nil
	}
	return "", fmt.Errorf("unknown second-factor method %q (expected totp or sms)", s)
}

// intersect returns the methods of a that are also in b, in a's order.
func intersect(a, b []Method) []Method {
	var out []Method
	for _, m := range a {
		for _, n := range b {
			if m == n {
				out = append(out, m)
				break
			}
		}
	}
	return out
}
