package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/stores"
)

// The gateway's metrics, all named caddy_stepup_*. No label carries a user, an
// address or anything else a client chooses: every label value comes from a short
// list fixed by the code or the config (route kinds, store operations, verdicts,
// results, the SMS provider's module name).

// requestBuckets span the gateway's own time per request: a few microseconds on the
// fast path with the memory store, a Redis round trip or two (a fraction of a
// millisecond on a LAN), up to a page rendered after several store calls.
var requestBuckets = []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// storeBuckets span one store call: under a microsecond in memory, a round trip to
// Redis, a slow network.
var storeBuckets = []float64{.000001, .000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// Collectors live at package level, like Caddy's own, and are registered on each
// config's registry in Provision (a reload registers them again; that is ignored).
var metrics = struct {
	requests      *prometheus.HistogramVec
	store         *prometheus.HistogramVec
	storeFailures *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	verifications *prometheus.CounterVec
	lockouts      prometheus.Counter
	smsSends      *prometheus.CounterVec
	logins        *prometheus.CounterVec
	storeErrors   prometheus.Counter
	loginRisk     *prometheus.CounterVec
	riskSignals   *prometheus.CounterVec
	console       *prometheus.CounterVec
}{
	requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "request_duration_seconds",
		Help:    "The gateway's own time per request, without the console's (the next handler), by route (unprotected, pages, login, logout, protected, refused).",
		Buckets: requestBuckets,
	}, []string{"route"}),
	store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "store_duration_seconds",
		Help:    "Time of each store call (a Redis round trip, or a memory store's work), by operation.",
		Buckets: storeBuckets,
	}, []string{"operation"}),
	storeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "store_failures_total",
		Help: "Store calls that got no answer (the store was unavailable), by operation.",
	}, []string{"operation"}),
	decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "decisions_total",
		Help: "Decisions on requests to protected routes, by verdict (allow, challenge, bind, sign_in, refused).",
	}, []string{"verdict"}),
	verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "verifications_total",
		Help: "Second-factor answers, by method (totp, sms, ...; none when refused before a method was known) and result (passed, invalid_code, locked, rate_limited, challenge_ended, ...).",
	}, []string{"method", "result"}),
	lockouts: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "lockouts_total",
		Help: "Users' second factors locked after too many wrong codes in a row.",
	}),
	smsSends: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "sms_sends_total",
		Help: "SMS messages (codes, and security notices with notify sms), by provider and result: sent, failed (the provider refused or did not answer), limited (a code's send limit refused it).",
	}, []string{"provider", "result"}),
	logins: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "logins_total",
		Help: "Successful console logins seen by the gateway, by outcome (passed, held, released).",
	}, []string{"outcome"}),
	storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "store_errors_total",
		Help: "Requests refused with 503 because the store could not answer.",
	}),
	loginRisk: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "login_risk_total",
		Help: "Console logins whose risk was assessed, by outcome (normal, challenged, log_only).",
	}, []string{"outcome"}),
	riskSignals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "login_risk_signals_total",
		Help: "Signals seen at assessed console logins, by signal (new_device, new_network, recent_failures).",
	}, []string{"signal"}),
	console: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "console_sessions_total",
		Help: "Console session cookies judged, by outcome (removed, unchecked, attached).",
	}, []string{"outcome"}),
}

// Label values resolved once, so the requests that must stay cheap do no label
// lookup: allowed counts the fast path (a recent second factor), served observes each
// request's own time by its route kind.
var (
	allowed = metrics.decisions.WithLabelValues("allow")
	served  = func() []prometheus.Observer {
		out := make([]prometheus.Observer, len(gateway.RouteKinds))
		for _, k := range gateway.RouteKinds {
			out[k] = metrics.requests.WithLabelValues(k.String())
		}
		return out
	}()
)

// storeHealth reports, at each scrape, whether the stores in use answer, and what
// the Redis stores' local live caches answered.
var storeHealth = &storeCollector{
	up: prometheus.NewDesc("caddy_stepup_store_up",
		"1 when every store in use answered a ping at this scrape, else 0.", nil, nil),
	live: prometheus.NewDesc("caddy_stepup_live_cache_total",
		"Liveness checks of sessions and step-up tokens, by result: hit (answered by the instance's local cache) or miss (asked of Redis). The memory store has no such cache.",
		[]string{"result"}, nil),
}

func registerMetrics(reg prometheus.Registerer) error {
	return register(reg, metrics.requests, metrics.store, metrics.storeFailures, metrics.decisions,
		metrics.verifications, metrics.lockouts, metrics.smsSends, metrics.logins, metrics.storeErrors,
		metrics.loginRisk, metrics.riskSignals, metrics.console, storeHealth)
}

// register registers package-level collectors on a config's registry; a reload
// registers them again, which is ignored.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

func init() {
	// Series that exist from the start, at 0, so dashboards and alerts see them before
	// the first event, and rate() counts the first one.
	for _, m := range []string{"", string(policy.TOTP), string(policy.SMS)} {
		metrics.verifications.WithLabelValues(methodLabel(m), "passed")
		metrics.verifications.WithLabelValues(methodLabel(m), "invalid_code")
	}
	for _, v := range []string{"challenge", "bind", "sign_in", "refused"} {
		metrics.decisions.WithLabelValues(v)
	}
	for _, op := range storeOps {
		metrics.storeFailures.WithLabelValues(op)
	}
	for _, o := range []string{"normal", "challenged", "log_only"} {
		metrics.loginRisk.WithLabelValues(o)
	}
	for _, o := range []string{"removed", "unchecked", "attached"} {
		metrics.console.WithLabelValues(o)
	}
	for _, o := range []string{"passed", "held", "released"} {
		metrics.logins.WithLabelValues(o)
	}
}

// metricsEvents counts the gateway's events. smsLimited is the provider's "limited"
// series (nil without an SMS provider).
type metricsEvents struct {
	smsLimited prometheus.Counter
}

// newMetricsEvents counts the events of a config whose SMS provider is p (nil when
// none).
func newMetricsEvents(p challenge.SMSSender) metricsEvents {
	if p == nil {
		return metricsEvents{}
	}
	return metricsEvents{smsLimited: metrics.smsSends.WithLabelValues(providerName(p), "limited")}
}

func (metricsEvents) Served(kind gateway.RouteKind, own time.Duration) {
	if int(kind) < len(served) {
		served[kind].Observe(own.Seconds())
	}
}

func (metricsEvents) Decision(verdict string) {
	if verdict == "allow" {
		allowed.Inc() // the fast path, without a label lookup
		return
	}
	metrics.decisions.WithLabelValues(verdict).Inc()
}

func (metricsEvents) Verification(method, result string) {
	metrics.verifications.WithLabelValues(methodLabel(method), result).Inc()
}

func (metricsEvents) Lockout() { metrics.lockouts.Inc() }

func (e metricsEvents) SMSLimited() {
	if e.smsLimited != nil {
		e.smsLimited.Inc()
	}
}

func (metricsEvents) Login(outcome string)          { metrics.logins.WithLabelValues(outcome).Inc() }
func (metricsEvents) StoreError()                   { metrics.storeErrors.Inc() }
func (metricsEvents) ConsoleSession(outcome string) { metrics.console.WithLabelValues(outcome).Inc() }

func (metricsEvents) LoginRisk(outcome string, signals []string) {
	metrics.loginRisk.WithLabelValues(outcome).Inc()
	for _, s := range signals {
		metrics.riskSignals.WithLabelValues(s).Inc()
	}
}

// methodLabel is a second-factor method as a label value: "none" when the answer was
// refused before a method was known.
func methodLabel(m string) string {
	if m == "" {
		return "none"
	}
	return m
}

// providerName is an SMS provider's label: its module's name ("log", "webhook",
// "twilio"), or "custom" for a sender that is not a Caddy module.
func providerName(p challenge.SMSSender) string {
	if m, ok := p.(caddy.Module); ok {
		if name := m.CaddyModule().ID.Name(); name != "" {
			return name
		}
	}
	return "custom"
}

// countedSMS counts the sends of an SMS provider by result (sent or failed). Sends a
// limit refused never reach it; the gateway reports those (metricsEvents.SMSLimited).
type countedSMS struct {
	challenge.SMSSender
	sent, failed prometheus.Counter
}

// countSends wraps p so that its sends are counted; nil stays nil.
func countSends(p challenge.SMSSender) challenge.SMSSender {
	if p == nil {
		return nil
	}
	name := providerName(p)
	return countedSMS{SMSSender: p, sent: metrics.smsSends.WithLabelValues(name, "sent"),
		failed: metrics.smsSends.WithLabelValues(name, "failed")}
}

// Send sends m with the provider and counts the outcome.
func (c countedSMS) Send(ctx context.Context, m challenge.CodeMessage) error {
	err := c.SMSSender.Send(ctx, m)
	if err != nil {
		c.failed.Inc()
	} else {
		c.sent.Inc()
	}
	return err
}

// pingTimeout bounds a scrape's ping of a store.
const pingTimeout = time.Second

// liveCacheStats is a store with a local cache of liveness answers (store.Redis).
type liveCacheStats interface {
	LiveCacheStats() (hits, misses uint64)
}

// storeCollector reports the stores' health and live caches at each scrape, from the
// stores every config in this process shares.
type storeCollector struct {
	up, live *prometheus.Desc
}

// Describe sends the collector's descriptions.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.live
}

// Collect pings every store in use (outside the pool's lock: a ping may wait up to
// pingTimeout), and adds up the live caches' counts.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	inUse := stores.InUse()
	var hits, misses uint64
	up := 1.0
	for _, st := range inUse {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		if err := st.Ping(ctx); err != nil {
			up = 0
		}
		cancel()
		if lc, ok := st.(liveCacheStats); ok {
			h, m := lc.LiveCacheStats()
			hits, misses = hits+h, misses+m
		}
	}
	if len(inUse) > 0 {
		ch <- constMetric(c.up, prometheus.GaugeValue, up)
	}
	ch <- constMetric(c.live, prometheus.CounterValue, float64(hits), "hit")
	ch <- constMetric(c.live, prometheus.CounterValue, float64(misses), "miss")
}

// constMetric is a metric of this scrape, or one that reports why it could not be
// made (a scrape error, never a panic).
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
