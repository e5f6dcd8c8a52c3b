package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signal is a sign, seen at a console login, that the login may not be the user's own.
type Signal string

const (
	// NewDevice: the browser has not passed a second factor for this user before (it
	// carries no device cookie naming the user, or an expired one).
	NewDevice Signal = "new_device"
	// NewNetwork: the client's network (IPv4 /24, IPv6 /56) has not signed in as this
	// user lately.
	NewNetwork Signal = "new_network"
	// RecentFailures: wrong second-factor codes were entered for this user recently.
	RecentFailures Signal = "recent_failures"
)

// Signals are every signal the gateway can see, in the order it reports them.
var Signals = []Signal{NewDevice, NewNetwork, RecentFailures}

// AnomalyRules score the signals of a login. A login whose score reaches Threshold is
// anomalous: a user with a second factor bound and operation protection on must pass
// it before the console's answer is released, even without login protection.
type AnomalyRules struct {
	// Weights of each signal; a signal without a weight (or weight 0) counts nothing.
	Weights map[Signal]int
	// Threshold is the score from which a login is anomalous; at least 1.
	Threshold int
	// LogOnlyUntil is the end of the rollout grace period: until then anomalous logins
	// are only logged, never challenged. Zero: no grace period.
	LogOnlyUntil time.Time
}

// DefaultAnomalyRules: a new device alone is anomalous; a new network is only together
// with recent wrong codes.
func DefaultAnomalyRules() AnomalyRules {
	return AnomalyRules{Weights: map[Signal]int{NewDevice: 2, NewNetwork: 1, RecentFailures: 1}, Threshold: 2}
}

// Risk is what the gateway concluded from a login's signals.
type Risk struct {
	// Seen are the signals seen, weighted or not.
	Seen []Signal
	// Score is the sum of the weights of Seen.
	Score int
	// Anomalous: Score reached the threshold.
	Anomalous bool
	// LogOnly: the grace period is running; an anomalous login is only logged.
	LogOnly bool
}

// Assess scores the signals seen at a login at time now.
func (a AnomalyRules) Assess(seen []Signal, now time.Time) Risk {
	r := Risk{Seen: slices.Clone(seen), LogOnly: now.Before(a.LogOnlyUntil)}
	for _, s := range seen {
		r.Score += a.Weights[s]
	}
	r.Anomalous = a.Threshold > 0 && r.Score >= a.Threshold
	return r
}

// String lists the signals seen with the score, for logs: "new_device,new_network (3)".
func (r Risk) String() string {
	names := make([]string, len(r.Seen))
	for i, s := range r.Seen {
		names[i] = string(s)
	}
	if len(names) == 0 {
		names = []string{"none"}
	}
	return strings.Join(names, ",") + " (score " + strconv.Itoa(r.Score) + ")"
}

// AnomalyApplies reports whether an anomalous login can make p pass a second factor:
// p has operation protection on and a method of it bound, and no login protection
// (which asks for one at every login anyway). A user with nothing bound is never made
// to bind one by an anomaly alone.
func AnomalyApplies(p Profile) bool {
	return !p.Protection.Login && p.Protection.Operation && len(p.Offered(Operation)) > 0
}
