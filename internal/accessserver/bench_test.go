package accessserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dashboardops/access-operator/internal/accessserver"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// BenchmarkAuthVersusTrivial measures GET /v1/auth with a valid passcode over loopback, on the real
// access server answering from the manager's informer cache, and side by side in the same run a
// trivial handler that returns 200 on the same HTTP stack (same server settings, same metrics
// middleware). It prints requests/s and p99 for both and their ratio: the cost of the check itself.
// Run with `make bench` (-benchtime=1x: each round is a fixed load, not scaled by b.N).
func BenchmarkAuthVersusTrivial(b *testing.B) {
	operator, err := testenv.StartOperator(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = operator.Stop() }()
	ctx := context.Background()
	ns, err := operator.NewNamespace(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := operator.CreateUser(ctx, ns, "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := operator.CreatePasscode(ctx, ns, "bench", "bench", "30d"); err != nil {
		b.Fatal(err)
	}
	code := waitForCode(b, operator, ns)
	addr, err := operator.Access.Addr(ctx)
	if err != nil {
		b.Fatal(err)
	}
	authURL := fmt.Sprintf("http://%s/v1/auth", addr)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	trivial := accessserver.NewHTTPServer(accessserver.Instrument("trivial", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	go func() { _ = trivial.Serve(ln) }()
	defer func() { _ = trivial.Close() }()
	trivialURL := fmt.Sprintf("http://%s/", ln.Addr())

	headers := http.Header{"X-Dashboard-Account-Id": {ns}, "X-Dashboard-Passcode": {code}}
	if status := load(authURL, headers, 1, 1).statuses; status[http.StatusOK] != 1 {
		b.Fatalf("the benchmark passcode is not valid: %v", status)
	}

	// Interleaved rounds, best of three for each, so that a burst of noise on a shared machine
	// does not decide the ratio.
	const requests, workers = 20000, 8
	var auth, base result
	for range 3 {
		base = best(base, load(trivialURL, headers, requests, workers))
		auth = best(auth, load(authURL, headers, requests, workers))
	}
	if auth.statuses[http.StatusOK] != requests {
		b.Fatalf("not every auth request was accepted: %v", auth.statuses)
	}
	fmt.Printf("\n%-28s %12s %10s %10s\n", "endpoint (8 clients, loopback)", "requests/s", "p50", "p99")
	fmt.Printf("%-30s %12.0f %10s %10s\n", "GET /v1/auth (valid)", auth.rps, auth.p50, auth.p99)
	fmt.Printf("%-30s %12.0f %10s %10s\n", "trivial 200, same stack", base.rps, base.p50, base.p99)
	fmt.Printf("ratio auth/trivial: throughput %.2f, p99 %.2f\n\n", auth.rps/base.rps, float64(auth.p99)/float64(base.p99))
	b.ReportMetric(auth.rps, "auth-req/s")
	b.ReportMetric(float64(auth.p99.Microseconds()), "auth-p99-µs")
	b.ReportMetric(base.rps, "trivial-req/s")
	b.ReportMetric(float64(base.p99.Microseconds()), "trivial-p99-µs")
	b.ReportMetric(auth.rps/base.rps, "throughput-ratio")
}

func waitForCode(b *testing.B, operator *testenv.Operator, ns string) string {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := &corev1.Secret{}
		if err := operator.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bench"}, s); err == nil {
			if code := string(s.Data[passcodesecret.KeyPasscode]); code != "" {
				time.Sleep(500 * time.Millisecond) // let the access server's cache see the status
				return code
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("the passcode was never issued")
	return ""
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	statuses map[int]int
}

func best(a, b result) result {
	if b.rps > a.rps {
		return b
	}
	return a
}

// load sends requests GETs from workers keep-alive clients and measures each.
func load(url string, headers http.Header, requests, workers int) result {
	transport := &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}
	defer transport.CloseIdleConnections()
	c := &http.Client{Transport: transport}
	latencies := make([]time.Duration, requests)
	statuses := make([]int, requests)
	var wg sync.WaitGroup
	next := make(chan int, requests)
	for i := range requests {
		next <- i
	}
	close(next)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header = headers.Clone()
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					statuses[i] = resp.StatusCode
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	return result{
		rps:      float64(requests) / elapsed.Seconds(),
		p50:      latencies[requests/2].Round(time.Microsecond),
		p99:      latencies[requests*99/100].Round(time.Microsecond),
		statuses: counts,
	}
}
