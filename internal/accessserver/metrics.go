package accessserver

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dashboardops/access-operator/internal/metrics"
)

// endpointMetrics are one endpoint's series, looked up once each and kept: WithLabelValues hashes
// the labels and takes a lock on every call. A series is still created on its first use only, as
// before, so /metrics shows no series for results that never happened.
type endpointMetrics struct {
	endpoint string
	latency  atomic.Pointer[observer]
	requests [len(resultLabels)]atomic.Pointer[counter]
}

type observer struct{ prometheus.Observer }

type counter struct{ prometheus.Counter }

// resultLabels are the results whose series are kept; any other is looked up on each use.
var resultLabels = [...]string{resultValid, resultInvalid, resultThrottled, resultForbidden, resultBadRequest, resultError}

func resultIndex(result string) int {
	for i, l := range resultLabels {
		if l == result {
			return i
		}
	}
	return -1
}

// observe counts a request with its result and observes its latency.
func (m *endpointMetrics) observe(result string, took time.Duration) {
	if i := resultIndex(result); i >= 0 {
		c := m.requests[i].Load()
		if c == nil {
			c = &counter{metrics.AccessRequests.WithLabelValues(m.endpoint, result)}
			m.requests[i].Store(c) // racing stores store the same series
		}
		c.Inc()
	} else {
		metrics.AccessRequests.WithLabelValues(m.endpoint, result).Inc()
	}
	o := m.latency.Load()
	if o == nil {
		o = &observer{metrics.AccessLatency.WithLabelValues(m.endpoint)}
		m.latency.Store(o)
	}
	o.Observe(took.Seconds())
}
