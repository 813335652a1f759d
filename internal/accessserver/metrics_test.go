package accessserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dashboardops/access-operator/internal/metrics"
)

// series gathers the access server's request series: "endpoint result" (or "endpoint" for the
// latency) -> count.
func series(t *testing.T) map[string]uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.AccessRequests, metrics.AccessLatency)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			key := f.GetName() + " " + strings.Join(labels, " ")
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = uint64(m.GetCounter().GetValue())
			case dto.MetricType_HISTOGRAM:
				out[key] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return out
}

// TestInstrumentCountsResults: each request is counted once under its endpoint and result, and
// its latency observed once; a panic is a 500 counted as an error; a plain handler (Instrument) is
// counted as bad_request, as before; a series appears on its first use only.
func TestInstrumentCountsResults(t *testing.T) {
	const requests = "access_operator_server_requests_total "
	const latency = "access_operator_server_request_duration_seconds "
	cases := []struct {
		name    string
		handler http.Handler
		result  string
		status  int
	}{
		{"test-valid", instrument("test-valid", func(w http.ResponseWriter, _ *http.Request, o *outcome) {
			o.result = resultValid
			w.WriteHeader(http.StatusOK)
		}), resultValid, http.StatusOK},
		{"test-default", instrument("test-default", func(http.ResponseWriter, *http.Request, *outcome) {}), resultBadRequest, http.StatusOK},
		{"test-other", instrument("test-other", func(_ http.ResponseWriter, _ *http.Request, o *outcome) { o.result = "unusual" }), "unusual", http.StatusOK},
		{"test-panic", instrument("test-panic", func(_ http.ResponseWriter, _ *http.Request, o *outcome) {
			o.result = resultValid
			panic("boom")
		}), resultError, http.StatusInternalServerError},
		{"test-plain", Instrument("test-plain", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
		})), resultBadRequest, http.StatusOK},
	}
	for _, c := range cases {
		for range 3 {
			rec := httptest.NewRecorder()
			c.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != c.status {
				t.Errorf("%s: status %d", c.name, rec.Code)
			}
			if c.status == http.StatusInternalServerError && !strings.Contains(rec.Body.String(), `"error":"internal error"`) {
				t.Errorf("%s: %q", c.name, rec.Body)
			}
		}
	}
	got := series(t)
	for _, c := range cases {
		if n := got[requests+c.name+" "+c.result]; n != 3 {
			t.Errorf("%s: %d requests counted as %s, want 3", c.name, n, c.result)
		}
		if n := got[latency+c.name]; n != 3 {
			t.Errorf("%s: %d latencies observed, want 3", c.name, n)
		}
		for k := range got {
			if strings.HasPrefix(k, requests+c.name+" ") && k != requests+c.name+" "+c.result {
				t.Errorf("%s: a series nothing was counted in: %s", c.name, k)
			}
		}
	}
}
