package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// RiskOptions say how the gateway judges whether a console login is anomalous (see
// the Caddy module's AnomalyConfig for each field's meaning).
type RiskOptions struct {
	Rules policy.AnomalyRules
	// Failures is how many wrong codes since the last right one make RecentFailures.
	Failures int
	// DeviceLifetime is how long a browser stays known for a user after the user passed
	// a second factor in it.
	DeviceLifetime time.Duration
	// NetworkMemory is how long a network stays known for a user after a login from it.
	NetworkMemory time.Duration
	// Key signs device cookies: at least 32 random bytes.
	Key []byte
	// PreviousKeys are the keys before Key, newest first: device cookies they signed
	// are still read, and re-signed with Key at their user's next login.
	PreviousKeys [][]byte
}

// failureCounter counts a user's recent wrong codes.
type failureCounter interface {
	RecentFailures(ctx context.Context, user string) (int, error)
}

// maxNetworks bounds the networks remembered per user; the longest unseen goes first.
const maxNetworks = 32

// riskCheck sees the signals of a console login (a new device, a new network, recent
// wrong codes) and learns the user's devices and networks from logins that pass.
type riskCheck struct {
	opts     RiskOptions
	devices  devices
	records  records
	failures failureCounter
	env
}

func newRiskCheck(o RiskOptions, st records, failures failureCounter, ck cookies, e env) (*riskCheck, error) {
	switch {
	case len(o.Key) < 32:
		return nil, errors.New("gateway: the device cookie key must be at least 32 bytes")
	case o.DeviceLifetime <= 0 || o.NetworkMemory <= 0:
		return nil, errors.New("gateway: device lifetime and network memory must be positive")
	case o.Failures < 1:
		return nil, errors.New("gateway: recent failures must count at least one wrong code")
	}
	keys, err := keyring.New(append([][]byte{o.Key}, o.PreviousKeys...)...)
	if err != nil {
		return nil, errors.New("gateway: device cookie keys: " + err.Error())
	}
	d := devices{keys: keys, lifetime: o.DeviceLifetime, cookies: ck}
	return &riskCheck{opts: o, devices: d, records: st, failures: failures, env: e}, nil
}

// assess sees the weighted signals of user's login by r.
func (rc *riskCheck) assess(r *http.Request, user string) (policy.Risk, error) {
	w := rc.opts.Rules.Weights
	now := rc.now()
	var seen []policy.Signal
	if w[policy.NewDevice] > 0 && !rc.devices.knows(r, user, now) {
		seen = append(seen, policy.NewDevice)
	}
	if w[policy.NewNetwork] > 0 {
		nets, err := rc.networks(r.Context(), user, now)
		if err != nil {
			return policy.Risk{}, err
		}
		if _, ok := nets[network(rc.clientIP(r))]; !ok {
			seen = append(seen, policy.NewNetwork)
		}
	}
	if w[policy.RecentFailures] > 0 {
		n, err := rc.failures.RecentFailures(r.Context(), user)
		if err != nil {
			return policy.Risk{}, err
		}
		if n >= rc.opts.Failures {
			seen = append(seen, policy.RecentFailures)
		}
	}
	return rc.opts.Rules.Assess(seen, now), nil
}

// decide is the login's decision for profile p: login protection, else the risk of an
// anomalous login. The risk is assessed only when it could ask for a second factor.
func (rc *riskCheck) decide(r *http.Request, p policy.Profile) (policy.Decision, error) {
	if rc == nil || p.Protection.Login || !policy.AnomalyApplies(p) {
		return policy.DecideLogin(p, policy.Risk{}), nil
	}
	risk, err := rc.assess(r, p.User)
	if err != nil {
		return policy.Decision{}, err
	}
	d := policy.DecideLogin(p, risk)
	outcome := "normal"
	switch {
	case d.Verdict == policy.Challenge:
		outcome = "challenged"
	case risk.Anomalous && risk.LogOnly:
		outcome = "log_only"
	}
	signals := signalNames(risk.Seen)
	rc.events.LoginRisk(outcome, signals)
	rc.log.Info("console login risk assessed", zap.String("user", p.User), zap.String("outcome", outcome),
		zap.Strings("signals", signals), zap.Int("score", risk.Score), zap.Int("threshold", rc.opts.Rules.Threshold),
		zap.String("reason", d.Reason), zap.String("network", network(rc.clientIP(r))), zap.String("client_ip", rc.clientIP(r)))
	return d, nil
}

// learn records, for a console login of user that passes, the client's network, and
// returns the device cookie to set when this browser is now known: it passed a second
// factor, or the rollout grace period is running (when every passing login teaches).
func (rc *riskCheck) learn(r *http.Request, user string, secondFactor bool) (*http.Cookie, error) {
	now := rc.now()
	if err := rc.remember(r.Context(), user, network(rc.clientIP(r)), now); err != nil {
		return nil, err
	}
	if secondFactor || now.Before(rc.opts.Rules.LogOnlyUntil) {
		return rc.devices.trust(r, user, now), nil
	}
	// Known under a previous key: known under the current one from now on.
	return rc.devices.rekey(r, user, now), nil
}

// trust returns the device cookie that makes r's browser known for user, who just
// passed a second factor in it.
func (rc *riskCheck) trust(r *http.Request, user string) *http.Cookie {
	return rc.devices.trust(r, user, rc.now())
}

func signalNames(seen []policy.Signal) []string {
	out := make([]string, len(seen))
	for i, s := range seen {
		out[i] = string(s)
	}
	return out
}

func networksKey(user string) store.Key { return store.UserKey(user, "networks") }

// networks are the networks user signed in from lately, with when last.
func (rc *riskCheck) networks(ctx context.Context, user string, now time.Time) (map[string]int64, error) {
	b, err := rc.records.Get(ctx, networksKey(user))
	nets := map[string]int64{}
	if errors.Is(err, store.ErrNotFound) {
		return nets, nil
	}
	if err != nil {
		return nil, err
	}
	if json.Unmarshal(b, &nets) != nil {
		return map[string]int64{}, nil // damaged: every network is new, which is safe
	}
	oldest := now.Add(-rc.opts.NetworkMemory).Unix()
	for n, at := range nets {
		if at <= oldest {
			delete(nets, n)
		}
	}
	return nets, nil
}

// remember records a login of user from network now. Two instances writing at once
// may lose one network: that login's network is then new once more, which is safe.
func (rc *riskCheck) remember(ctx context.Context, user, network string, now time.Time) error {
	nets, err := rc.networks(ctx, user, now)
	if err != nil {
		return err
	}
	nets[network] = now.Unix()
	for len(nets) > maxNetworks {
		oldest := ""
		for n, at := range nets {
			if oldest == "" || at < nets[oldest] {
				oldest = n
			}
		}
		delete(nets, oldest)
	}
	b, err := json.Marshal(nets)
	if err != nil {
		return err
	}
	return rc.records.Put(ctx, networksKey(user), b, rc.opts.NetworkMemory)
}

// network is the network of a client address: IPv4 /24, IPv6 /56 (what one household
// or office is usually given). An address that cannot be read is its own network.
func network(clientIP string) string {
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientIP
	}
	addr = addr.Unmap().WithZone("")
	bits := 24
	if addr.Is6() {
		bits = 56
	}
	return netip.PrefixFrom(addr, bits).Masked().String()
}
