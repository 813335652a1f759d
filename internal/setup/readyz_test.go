package setup_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestReadyzWaitsForCachesAndTheAccessServer runs the manager against a real API server behind a
// proxy that holds every Passcode request, so its cache cannot sync. /readyz must fail while the
// cache is incomplete (the access server is not even listening then), and answer 200 only once the
// cache has synced and the access port accepts connections. A /readyz that is healthz.Ping
// answers 200 at once and fails this test.
func TestReadyzWaitsForCachesAndTheAccessServer(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	release := make(chan struct{})
	held := make(chan struct{}, 1)
	proxy := holdingProxy(t, cfg, release, held)
	defer proxy.Close()
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }

	probe, access := freeAddr(t), freeAddr(t)
	opts := options.Default()
	opts.MetricsBindAddress = "0"
	opts.HealthProbeBindAddress = probe
	opts.AccessBindAddress = access
	opts.Dev = true
	conf, err := opts.Parse()
	if err != nil {
		t.Fatal(err)
	}
	op, err := setup.NewManager(&rest.Config{Host: proxy.URL}, conf, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- op.Start(ctx) }()
	defer func() {
		releaseAll() // a manager waiting for its cache stops only once its requests are answered
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the manager stopped with an error: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the manager did not stop within a minute")
		}
	}()

	select {
	case <-held:
	case err := <-done:
		t.Fatalf("the manager stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the manager never asked for Passcodes")
	}
	// While the Passcode list is held, the probe server is up but the replica is not ready.
	answers := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, body := get(t, "http://"+probe+"/readyz?verbose")
		if status == 0 {
			continue // the probe server is not listening yet
		}
		answers++
		if status == http.StatusOK {
			t.Fatalf("/readyz answered 200 before the cache synced (access port accepts: %v):\n%s", accepts(access), body)
		}
		if !strings.Contains(body, "informer-caches failed") {
			t.Fatalf("/readyz does not say the informer caches are not synced:\n%s", body)
		}
	}
	if answers == 0 {
		t.Fatal("the probe server never answered while the cache was syncing")
	}
	if accepts(access) {
		t.Fatal("the access server listens before the cache synced: it would answer from an empty cache")
	}

	releaseAll()
	releasedAt := time.Now()
	var readyAt time.Time
	for deadline := time.Now().Add(30 * time.Second); readyAt.IsZero(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, body := get(t, "http://"+probe+"/readyz?verbose")
			t.Fatalf("/readyz not 200 within 30 s of the cache being able to sync:\n%s", body)
		}
		if status, _ := get(t, "http://"+probe+"/readyz"); status == http.StatusOK {
			readyAt = time.Now()
			// Ready means the access server answers now, not eventually.
			if !accepts(access) {
				t.Fatal("/readyz answered 200 while the access port refused connections")
			}
		}
	}
	resp, err := http.Post("http://"+access+"/v1/verify", "application/json",
		bytes.NewReader([]byte(`{"account":"default","passcode":"dpc_AAAAAAAAAAAAAAAAAAAAAAAAAA"}`)))
	if err != nil {
		t.Fatalf("the access server does not answer once ready: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unknown passcode once ready: %d, want 401", resp.StatusCode)
	}
	t.Logf("ready %v after the Passcode list was released", readyAt.Sub(releasedAt).Round(time.Millisecond))
}

// holdingProxy forwards to the API server of cfg, holding every request for Passcodes (list and
// watch) until release is closed; held gets a signal when the first one arrives.
func holdingProxy(t *testing.T, cfg *rest.Config, release <-chan struct{}, held chan<- struct{}) *httptest.Server {
	t.Helper()
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // watches stream
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/passcodes") {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// get returns the status and body, or 0 when nothing listens.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func accepts(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// TestOneRateLimitForTheWholeManager: --kube-api-qps and --kube-api-burst are one token bucket that
// every client of the manager shares (client-go would give each resource its own), and leader
// election keeps a client outside it.
func TestOneRateLimitForTheWholeManager(t *testing.T) {
	opts := options.Default()
	opts.KubeAPIQPS, opts.KubeAPIBurst = 123, 456
	manager, leaderElection := setup.RESTConfigs(&rest.Config{Host: "https://example.invalid"}, options.Config{Options: opts})
	if manager.RateLimiter == nil || manager.RateLimiter.QPS() != 123 || manager.Burst != 456 {
		t.Fatalf("the manager's clients share no rate limiter set from the flags: %v", manager.RateLimiter)
	}
	if leaderElection.RateLimiter != nil {
		t.Fatal("lease renewals must not wait in the manager's bucket")
	}
}
