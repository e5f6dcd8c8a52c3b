package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors live at package level, like Caddy's own, and are registered on each
// config's registry in Provision (a reload registers them again; that is ignored).
var metrics = struct {
	decisions     *prometheus.CounterVec
	verifications *prometheus.CounterVec
	logins        *prometheus.CounterVec
	storeErrors   prometheus.Counter
	loginRisk     *prometheus.CounterVec
	riskSignals   *prometheus.CounterVec
	console       *prometheus.CounterVec
}{
	decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "decisions_total",
		Help: "Decisions on requests to protected routes, by verdict (allow, challenge, bind, sign_in).",
	}, []string{"verdict"}),
	verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "verifications_total",
		Help: "Second-factor answers, by result (passed, invalid_code, locked, rate_limited, challenge_ended, ...).",
	}, []string{"result"}),
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

// allowed counts the fast path (a recent second factor) without a label lookup.
var allowed = metrics.decisions.WithLabelValues("allow")

func registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.decisions, metrics.verifications, metrics.logins, metrics.storeErrors,
		metrics.loginRisk, metrics.riskSignals, metrics.console} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// metricsEvents counts the gateway's events.
type metricsEvents struct{}

func (metricsEvents) Decision(verdict string) {
	if verdict == "allow" {
		allowed.Inc() // the fast path, without a label lookup
		return
	}
	metrics.decisions.WithLabelValues(verdict).Inc()
}

func (metricsEvents) Verification(result string)    { metrics.verifications.WithLabelValues(result).Inc() }
func (metricsEvents) Login(outcome string)          { metrics.logins.WithLabelValues(outcome).Inc() }
func (metricsEvents) StoreError()                   { metrics.storeErrors.Inc() }
func (metricsEvents) ConsoleSession(outcome string) { metrics.console.WithLabelValues(outcome).Inc() }

func (metricsEvents) LoginRisk(outcome string, signals []string) {
	metrics.loginRisk.WithLabelValues(outcome).Inc()
	for _, s := range signals {
		metrics.riskSignals.WithLabelValues(s).Inc()
	}
}
