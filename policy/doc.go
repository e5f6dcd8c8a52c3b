// Package policy decides, without any I/O, whether a request may pass, must first pass
// a second factor, or must first bind one. It knows nothing of Caddy, HTTP or the store:
// the caller turns a request into plain facts, asks Decide, and acts on the answer.
//
// The rules in one sitting:
//
//   - A request is read every way a console could read its path and method
//     (Rules.Classify): it is sensitive when every reading falls under an
//     OperationRule, refused when only some do, and allowed untouched when none does.
//   - A sensitive request from an unknown user must sign in first.
//   - A user without operation protection is allowed.
//   - A proof of a second factor (Request.Proof) no older than the rule's MaxAge
//     allows the request: a step-up token of the same user and gateway session, or
//     the session's own login when it passed a second factor.
//   - Otherwise the user is challenged with every method that is both enabled and bound;
//     when none is bound, the user binds one first (binding passes the challenge).
//   - A console login is held when the user has login protection (DecideLogin), or
//     when it is anomalous (AnomalyRules: a new device, a new network, recent wrong
//     codes) and the user has operation protection with a method bound.
//   - Changing second factors takes a proof no older than ChangeFactorsMaxAge unless
//     nothing is bound yet (DecideChange).
//   - Who is protected comes from Enforcement; who is root or an administrator from
//     Roles; names compare as one user (CanonicalUser).
package policy
