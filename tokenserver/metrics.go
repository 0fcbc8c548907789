package tokenserver

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// metrics are the token server's Prometheus metrics, registered with the
// manager's registry so they appear on its metrics endpoint.
type metrics struct {
	tokens         *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	clientFailures prometheus.Counter
	userFailures   prometheus.Counter
	throttledTotal prometheus.Counter
	saChecks       *prometheus.CounterVec
}

var defaultMetrics = newMetrics(ctrlmetrics.Registry)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenwarden_tokens_issued_total", Help: "Token requests by grant type and outcome (ok or the OAuth error code).",
		}, []string{"grant_type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokenwarden_token_request_duration_seconds", Help: "Token endpoint latency by grant type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"grant_type"}),
		clientFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenwarden_client_authentication_failures_total", Help: "Failed client authentications.",
		}),
		userFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenwarden_user_authentication_failures_total", Help: "Failed user authentications (wrong username or password).",
		}),
		throttledTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenwarden_throttled_requests_total", Help: "Sign-in attempts refused by the failed-login throttle.",
		}),
		saChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenwarden_serviceaccount_token_checks_total",
			Help: "ServiceAccount client assertions checked, by result: cached (no API call), or the TokenReview's answer (authenticated, refused, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.tokens, m.latency, m.clientFailures, m.userFailures, m.throttledTotal, m.saChecks)
	return m
}

// grantLabels bounds the label values a client can create.
var grantLabels = map[string]bool{
	"client_credentials": true, "password": true, "refresh_token": true, "authorization_code": true,
	"urn:ietf:params:oauth:grant-type:token-exchange": true,
}

func (m *metrics) observeToken(grantType string, err error, d time.Duration) {
	if !grantLabels[grantType] {
		grantType = "other"
	}
	outcome := "ok"
	if err != nil {
		outcome = oauth.ErrServerError
		var oe *oauth.Error
		if errors.As(err, &oe) {
			outcome = oe.Code
		}
	}
	m.tokens.WithLabelValues(grantType, outcome).Inc()
	m.latency.WithLabelValues(grantType).Observe(d.Seconds())
}

func (m *metrics) clientAuthFailed() { m.clientFailures.Inc() }
func (m *metrics) userAuthFailed()   { m.userFailures.Inc() }
func (m *metrics) throttled()        { m.throttledTotal.Inc() }

// reviewed counts a ServiceAccount assertion check by result.
func (m *metrics) reviewed(result string) { m.saChecks.WithLabelValues(result).Inc() }
