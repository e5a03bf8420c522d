package provider

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	calls   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

// newMetrics registers on reg, reusing the collectors another client already registered there.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forteleasing_provider_calls_total",
			Help: "Calls to outside vehicle providers by outcome (ok, not_found, unavailable, ...).",
		}, []string{"provider", "operation", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "forteleasing_provider_call_seconds",
			Help:    "Duration of calls to outside vehicle providers, retries included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"provider", "operation"}),
	}
	if reg == nil {
		return m
	}
	m.calls = register(reg, m.calls)
	m.seconds = register(reg, m.seconds)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A clash with a foreign collector of the same name: keep counting, unexported.
	}
	return c
}

func (m *metrics) record(provider, op string, err error, start time.Time) {
	m.calls.WithLabelValues(provider, op, Outcome(err)).Inc()
	m.seconds.WithLabelValues(provider, op).Observe(time.Since(start).Seconds())
}
