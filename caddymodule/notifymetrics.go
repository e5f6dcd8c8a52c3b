package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// noticeMetrics count security notices. Like the other collectors they live at package
// level and are registered on each config's registry (see registerNotifyMetrics).
var noticeMetrics = struct {
	delivered *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}{
	delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "notices_total",
		Help: "Security notices handed to a notifier, by notifier (webhook, sms) and outcome (sent, failed, skipped: nowhere to send, rate_limited: the notifier's own per-user limit).",
	}, []string{"notifier", "outcome"}),
	dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "stepup", Name: "notices_dropped_total",
		Help: "Security notices sent to no notifier, by reason (queue_full, rate_limited: the user's limit, store_error, closed: the config unloaded first).",
	}, []string{"reason"}),
}

// registerNotifyMetrics registers the notices' collectors on a config's registry.
func registerNotifyMetrics(reg prometheus.Registerer) error {
	return register(reg, noticeMetrics.delivered, noticeMetrics.dropped)
}

// noticeCounts counts the notice queue's outcomes (notify.Metrics).
type noticeCounts struct{}

func (noticeCounts) Dropped(reason string) { noticeMetrics.dropped.WithLabelValues(reason).Inc() }

func (noticeCounts) Delivered(notifier, outcome string) {
	noticeMetrics.delivered.WithLabelValues(notifier, outcome).Inc()
}
