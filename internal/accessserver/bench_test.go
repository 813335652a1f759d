package accessserver_test

import (
	"bytes"
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
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/dashboardops/access-operator/internal/accessserver"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// benchWorkers is how many keep-alive clients send requests at once.
const benchWorkers = 8

// BenchmarkAccessServer measures POST /v1/verify and GET /v1/auth with a valid passcode over
// loopback, on the real access server answering from the manager's informer cache, side by side in
// the same run with a trivial handler that returns 200 on the same HTTP stack (same server settings,
// same metrics middleware), asked both with a GET like /v1/auth and with a POST of the same body as
// /v1/verify. The ratios to the trivial handler are the cost of the checks themselves. Both
// endpoints are measured on a second access server too, over a cache limited to the namespace as
// the manager's is with --watch-namespaces ("namespaced", "-ns").
//
//   - side-by-side: interleaved fixed rounds of every endpoint, best of five each; prints
//     requests/s, p50, p99 and CPU per request, and the ratios. Run with `make bench`
//     (-benchtime=1x: each round is a fixed load, not scaled by b.N). The figures are printed, never
//     asserted: the machine may be shared.
//   - trivial-get, trivial-post, auth, verify, auth-ns, verify-ns: b.N requests of one endpoint
//     alone, for profiling one endpoint at a time, e.g.
//     go test ./internal/accessserver -run '^$' -bench 'AccessServer/verify$' -benchtime 200000x \
//     -cpuprofile cpu.out -memprofile mem.out
//     (go tool pprof -top -cum -focus 'accessserver\.\(\*Server\)\.verify$' accessserver.test cpu.out)
func BenchmarkAccessServer(b *testing.B) {
	targets := startBenchTargets(b)
	b.Run("side-by-side", func(b *testing.B) { sideBySide(b, targets) })
	for _, t := range targets {
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			r := load(t, b.N, benchWorkers)
			b.StopTimer()
			if r.statuses[http.StatusOK] != b.N {
				b.Fatalf("not every %s request was accepted: %v", t.name, r.statuses)
			}
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
		})
	}
}

// benchTargets are the endpoints compared, in the order they are loaded.
type benchTargets []target

// startBenchTargets starts the operator with one valid passcode and a trivial server next to it.
func startBenchTargets(b *testing.B) benchTargets {
	operator, err := testenv.StartOperator(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = operator.Stop() })
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

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	trivial := accessserver.NewHTTPServer(accessserver.Instrument("trivial", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	go func() { _ = trivial.Serve(ln) }()
	b.Cleanup(func() { _ = trivial.Close() })

	nsAddr := startNamespacedServer(b, operator, ns)

	headers := http.Header{"X-Dashboard-Account-Id": {ns}, "X-Dashboard-Passcode": {code}}
	jsonHeaders := http.Header{"Content-Type": {"application/json"}}
	body := fmt.Appendf(nil, `{"account":%q,"passcode":%q}`, ns, code)
	targets := benchTargets{
		{name: "trivial-get", method: http.MethodGet, url: fmt.Sprintf("http://%s/", ln.Addr()), headers: headers},
		{name: "trivial-post", method: http.MethodPost, url: fmt.Sprintf("http://%s/", ln.Addr()), headers: jsonHeaders, body: body},
		{name: "auth", method: http.MethodGet, url: fmt.Sprintf("http://%s/v1/auth", addr), headers: headers},
		{name: "verify", method: http.MethodPost, url: fmt.Sprintf("http://%s/v1/verify", addr), headers: jsonHeaders, body: body},
		{name: "auth-ns", method: http.MethodGet, url: fmt.Sprintf("http://%s/v1/auth", nsAddr), headers: headers},
		{name: "verify-ns", method: http.MethodPost, url: fmt.Sprintf("http://%s/v1/verify", nsAddr), headers: jsonHeaders, body: body},
	}
	for _, t := range targets {
		if status := load(t, 1, 1).statuses; status[http.StatusOK] != 1 {
			b.Fatalf("%s does not accept the benchmark passcode: %v", t.name, status)
		}
	}
	return targets
}

// startNamespacedServer serves a second access server, over a cache limited to ns as the manager's
// is with --watch-namespaces (a cache per namespace behind one, whose List and Get map the kind to
// its REST mapping on each call, and whose informers do not expose their indexers).
func startNamespacedServer(b *testing.B, operator *testenv.Operator, ns string) string {
	opts := setup.CacheOptions([]string{ns})
	opts.Scheme = testenv.Scheme()
	c, err := cache.New(operator.Config, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		b.Fatal("the namespaced cache did not sync")
	}
	srv := accessserver.New(accessserver.Config{BindAddress: "127.0.0.1:0", Reader: c, APIReader: operator.Client,
		Writer: operator.Client, Clock: operator.Clock})
	go func() { _ = srv.Start(ctx) }()
	addr, err := srv.Addr(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return addr.String()
}

// sideBySide loads every target in interleaved rounds, best of five for each, so that a burst of
// noise on a shared machine does not decide the ratio, and prints the figures. CPU/request is the
// CPU time of this whole process (load generator included) per request: less sensitive to other
// work on the machine than requests/s.
func sideBySide(b *testing.B, targets benchTargets) {
	const requests, rounds = 20000, 5
	results := map[string]result{}
	for range rounds {
		for _, t := range targets {
			results[t.name] = best(results[t.name], load(t, requests, benchWorkers))
		}
	}
	for _, t := range targets {
		if got := results[t.name].statuses[http.StatusOK]; got != requests {
			b.Fatalf("not every %s request was accepted: %v", t.name, results[t.name].statuses)
		}
	}
	base, post := results["trivial-get"], results["trivial-post"]
	labels := map[string]string{
		"verify":       "POST /v1/verify (valid)",
		"auth":         "GET /v1/auth (valid)",
		"verify-ns":    "POST /v1/verify, namespaced",
		"auth-ns":      "GET /v1/auth, namespaced",
		"trivial-get":  "trivial 200, GET, same stack",
		"trivial-post": "trivial 200, POST same body",
	}
	fmt.Printf("\n%-32s %12s %10s %10s %12s\n", fmt.Sprintf("endpoint (%d clients, loopback)", benchWorkers),
		"requests/s", "p50", "p99", "CPU/request")
	for _, name := range []string{"verify", "auth", "verify-ns", "auth-ns", "trivial-get", "trivial-post"} {
		r := results[name]
		fmt.Printf("%-32s %12.0f %10s %10s %12s\n", labels[name], r.rps, r.p50, r.p99, r.cpu)
	}
	for _, name := range []string{"verify", "auth", "verify-ns", "auth-ns"} {
		r := results[name]
		fmt.Printf("ratio %-9s/ trivial-get:  throughput %.2f, p50 %.2f, p99 %.2f, CPU/request %.2f\n", name,
			r.rps/base.rps, ratio(r.p50, base.p50), ratio(r.p99, base.p99), ratio(r.cpu, base.cpu))
	}
	for _, name := range []string{"verify", "verify-ns"} {
		v := results[name]
		fmt.Printf("ratio %-9s/ trivial-post: throughput %.2f, p50 %.2f, p99 %.2f, CPU/request %.2f\n", name,
			v.rps/post.rps, ratio(v.p50, post.p50), ratio(v.p99, post.p99), ratio(v.cpu, post.cpu))
	}
	fmt.Println("(namespaced: a second access server over a cache limited to the namespace, as with --watch-namespaces)")
	fmt.Println()
	b.ReportMetric(base.rps, "trivial-req/s")
	for _, name := range []string{"verify", "auth", "verify-ns", "auth-ns"} {
		r := results[name]
		b.ReportMetric(r.rps, name+"-req/s")
		b.ReportMetric(r.rps/base.rps, name+"-throughput-ratio")
		b.ReportMetric(ratio(r.p99, base.p99), name+"-p99-ratio")
		b.ReportMetric(ratio(r.cpu, base.cpu), name+"-cpu-ratio")
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

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

// target is one endpoint and the request the benchmark sends it.
type target struct {
	name, method, url string
	headers           http.Header
	body              []byte
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // CPU time of the process per request
	statuses map[int]int
}

// best is the round with the higher throughput, and the lower CPU/request of the two.
func best(a, b result) result {
	r := a
	if b.rps > a.rps {
		r = b
	}
	if a.cpu > 0 && b.cpu > 0 {
		r.cpu = min(a.cpu, b.cpu)
	}
	return r
}

// load sends requests to t from workers keep-alive clients and measures each.
func load(t target, requests, workers int) result {
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
	cpu0 := processCPU()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var body io.Reader
				if t.body != nil {
					body = bytes.NewReader(t.body)
				}
				req, _ := http.NewRequest(t.method, t.url, body)
				req.Header = t.headers.Clone()
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
	cpu := processCPU() - cpu0
	slices.Sort(latencies)
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	return result{
		rps:      float64(requests) / elapsed.Seconds(),
		p50:      latencies[requests/2].Round(time.Microsecond),
		p99:      latencies[requests*99/100].Round(time.Microsecond),
		cpu:      (cpu / time.Duration(requests)).Round(100 * time.Nanosecond),
		statuses: counts,
	}
}
