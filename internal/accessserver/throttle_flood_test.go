package accessserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// floodAddresses is how many distinct client addresses send a wrong passcode: more than the
// throttle's bound (maxThrottledClients, 100k), so that a throttle without its LRU bound would
// track them all and fail the test.
const floodAddresses = maxThrottledClients + maxThrottledClients/5

// TestThrottleMemoryIsBoundedUnderAFlood sends one wrong passcode from each of floodAddresses
// distinct IPv4 addresses through the server's handler, behind a trusted proxy that names them
// in X-Forwarded-For (as an ingress would), and checks that the throttle tracks at most
// maxThrottledClients of them (the least recently failing are forgotten) and says so in its
// gauge. It prints the heap growth per tracked client after a forced GC, which
// maxThrottledClients' comment estimates; the figure is printed, not asserted.
func TestThrottleMemoryIsBoundedUnderAFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 120k requests")
	}
	scheme := k8sruntime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pc, u := fixture()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pc, u).Build()
	srv := New(Config{Reader: c, APIReader: c, Writer: c, Clock: clocktesting.NewFakeClock(now),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}})
	h := srv.Handler()
	body := `{"account":"team","passcode":"not-the-passcode"}`

	heapBefore := liveHeap()
	statuses := map[int]int{}
	for i := range floodAddresses {
		r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "192.0.2.1:40000"
		// 10.0.0.0/8 holds 16M addresses: every request comes from another one.
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		statuses[rec.Code]++
	}
	heapAfter := liveHeap()

	tracked := srv.throttle.size()
	gauge := int(testutil.ToFloat64(metrics.AccessThrottleClients))
	growth := int64(heapAfter) - int64(heapBefore) //nolint:gosec // heaps are far below 2^63
	t.Logf("%d wrong passcodes from %d addresses: answers %v; throttle tracks %d clients (bound %d, gauge %d); "+
		"heap after GC grew %.1f MiB, %d bytes per tracked client",
		floodAddresses, floodAddresses, statuses, tracked, maxThrottledClients, gauge,
		float64(growth)/(1<<20), growth/int64(max(tracked, 1)))
	if statuses[http.StatusUnauthorized] != floodAddresses {
		t.Errorf("every first wrong passcode from an address must be answered 401, got %v", statuses)
	}
	if tracked > maxThrottledClients {
		t.Errorf("the throttle tracks %d clients after a flood from %d addresses; its bound is %d", tracked, floodAddresses, maxThrottledClients)
	}
	if gauge != tracked {
		t.Errorf("the throttle clients gauge says %d, the throttle tracks %d", gauge, tracked)
	}
	// The newest addresses are the ones remembered: the last one is still counted against.
	last := netip.MustParseAddr(fmt.Sprintf("10.%d.%d.%d", (floodAddresses-1)>>16&0xff, (floodAddresses-1)>>8&0xff, (floodAddresses-1)&0xff))
	srv.throttle.mu.Lock()
	_, remembered := srv.throttle.clients[srv.throttle.key(last)]
	srv.throttle.mu.Unlock()
	if !remembered {
		t.Errorf("the most recent failing address %s was forgotten", last)
	}
}
