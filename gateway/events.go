package gateway

import (
	"net/http"
	"sync"
	"time"
)

// Events are what the flows report for metrics. The Caddy module counts them.
// Served is called on every request: an implementation must not allocate or look
// anything up by name there.
type Events interface {
	// Served is the gateway's own time on a request of the given kind: from its
	// arrival until the gateway is done with it, less the time spent in the console
	// (the next handler), so it is the gateway's cost alone.
	Served(kind RouteKind, own time.Duration)
	// Decision is a protected request's outcome: "allow", "challenge", "bind",
	// "sign_in" or "refused".
	Decision(verdict string)
	// Verification is a second-factor answer's result: "passed" or an error Code,
	// for the method answered with ("totp" or "sms"; "" when the answer was refused
	// before a method was known, e.g. a challenge that is not the caller's).
	Verification(method, result string)
	// Lockout is a user's second factor locked after too many wrong codes in a row.
	Lockout()
	// SMSLimited is an SMS code not sent because a limit was reached: the sends per
	// user, number or client network, or the wrong codes from the client's network.
	SMSLimited()
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

// Served counts nothing.
func (NoEvents) Served(RouteKind, time.Duration) {}

// Decision counts nothing.
func (NoEvents) Decision(string) {}

// Verification counts nothing.
func (NoEvents) Verification(string, string) {}

// Lockout counts nothing.
func (NoEvents) Lockout() {}

// SMSLimited counts nothing.
func (NoEvents) SMSLimited() {}

// Login counts nothing.
func (NoEvents) Login(string) {}

// StoreError counts nothing.
func (NoEvents) StoreError() {}

// LoginRisk counts nothing.
func (NoEvents) LoginRisk(string, []string) {}

// ConsoleSession counts nothing.
func (NoEvents) ConsoleSession(string) {}

// RouteKind is which flow served a request, as Events.Served reports it.
type RouteKind uint8

// The kinds of route. RouteKinds lists them all.
const (
	// RouteUnprotected: passed to the console untouched, the store not asked.
	RouteUnprotected RouteKind = iota
	// RoutePages: the gateway's own pages and API, under its prefix.
	RoutePages
	// RouteLogin: the console's login, watched.
	RouteLogin
	// RouteLogout: the console's logout.
	RouteLogout
	// RouteProtected: a protected operation.
	RouteProtected
	// RouteRefused: refused, as the console could read it otherwise than the gateway.
	RouteRefused
)

// RouteKinds are every RouteKind, in order, so a metric can resolve its labels once.
var RouteKinds = []RouteKind{RouteUnprotected, RoutePages, RouteLogin, RouteLogout, RouteProtected, RouteRefused}

var routeKindNames = [...]string{
	RouteUnprotected: "unprotected", RoutePages: "pages", RouteLogin: "login",
	RouteLogout: "logout", RouteProtected: "protected", RouteRefused: "refused",
}

// String is the kind's name, a metric label: "unprotected", "pages", "login",
// "logout", "protected" or "refused".
func (k RouteKind) String() string {
	if int(k) < len(routeKindNames) {
		return routeKindNames[k]
	}
	return "unknown"
}

// publicKinds maps the router's kinds to the reported ones.
var publicKinds = [...]RouteKind{
	toConsole: RouteUnprotected, ownPages: RoutePages, loginRoute: RouteLogin,
	logoutRoute: RouteLogout, protectedRoute: RouteProtected, refusedRoute: RouteRefused,
}

// timedNext is the console (the next handler) with a stopwatch: it adds up the time
// a request spends there, so Serve can report the gateway's own time without it.
// They are pooled: a request's timing allocates nothing.
type timedNext struct {
	next   Next
	events Events
	start  time.Time
	in     time.Duration // in the console, so far
}

var timers = sync.Pool{New: func() any { return new(timedNext) }}

// startTimer times a request that began at start, whose rest of the route is next.
func startTimer(next Next, events Events, start time.Time) *timedNext {
	t := timers.Get().(*timedNext)
	t.next, t.events, t.start, t.in = next, events, start, 0
	return t
}

// ServeHTTP runs the console, timed. (time.Since reads only the monotonic clock, half
// the cost of time.Now.)
func (t *timedNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	entered := time.Since(t.start)
	err := t.next.ServeHTTP(w, r)
	t.in += time.Since(t.start) - entered
	return err
}

// stop reports the request's own time, of the router's kind k, and returns the
// timer to the pool; it must not be used again.
func (t *timedNext) stop(k routeKind) {
	kind := RouteUnprotected
	if int(k) < len(publicKinds) {
		kind = publicKinds[k]
	}
	t.events.Served(kind, time.Since(t.start)-t.in)
	*t = timedNext{}
	timers.Put(t)
}
