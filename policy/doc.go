// Package policy decides, without any I/O, whether a request may pass, must first pass
// a second factor, or must first bind one. It knows nothing of Caddy, HTTP or the store:
// the caller turns a request into plain facts, asks Decide, and acts on the answer.
//
// The rules in one sitting:
//
//   - A request that matches no OperationRule is allowed; nothing is looked up.
//   - A sensitive request from an unknown user must sign in first.
//   - A user without operation protection is allowed.
//   - A step-up token of the same user and gateway session whose second factor passed no
//     longer ago than the rule's MaxAge allows the request.
//   - Otherwise the user is challenged with every method that is both enabled and bound;
//     when none is bound, the user binds one first (binding passes the challenge).
package policy
