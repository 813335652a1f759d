package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// This file loads the manager's access server and, for comparison, a trivial HTTP server run as a
// process of its own (this binary with -trivial-server), so that both sides are a separate process
// on the same machine as the load generator.

// accessPasscodes is how many valid passcodes the load cycles through, so that per-passcode caches
// are exercised as with many clients rather than one.
const accessPasscodes = 100

// loadResult is one endpoint's figures.
type loadResult struct {
	name     string
	requests int
	rps      float64
	p50, p99 time.Duration
	statuses map[int]int // non-200 answers by status code
	errors   int         // requests that got no answer
}

func (r loadResult) failures() int {
	n := r.errors
	for _, c := range r.statuses {
		n += c
	}
	return n
}

// accessResult is the access phase's figures.
type accessResult struct {
	concurrency int
	duration    time.Duration
	passcodes   int
	trivial     loadResult
	verify      loadResult
	auth        loadResult
	writes      []callRow // the manager's writes meanwhile (last-use stamps)
}

// target is one kind of request, built afresh for each send.
type target struct {
	name string
	make func(i int) (*http.Request, error)
}

func (b *bench) runAccess(ctx context.Context, rep *report) error {
	codes, err := b.validPasscodes(ctx, accessPasscodes)
	if err != nil {
		return err
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	if b.trivial, err = startTrivial(ctx, addr); err != nil {
		return err
	}
	res := &accessResult{concurrency: b.cfg.loadConcurrency, duration: b.cfg.loadDuration, passcodes: len(codes)}
	start := time.Now()
	targets := []struct {
		into *loadResult
		t    target
	}{
		{&res.trivial, trivialTarget("http://" + addr + "/")},
		{&res.verify, verifyTarget(b.mgr.AccessURL()+"/v1/verify", codes)},
		{&res.auth, authTarget(b.mgr.AccessURL()+"/v1/auth", codes)},
	}
	// Warm up every endpoint first: each passcode's first use (and its user's) is stamped in status
	// (coalesced to one write per object per minute), and that burst must not land on whichever
	// endpoint is measured first.
	for _, x := range targets {
		if _, err := load(ctx, x.t, b.cfg.loadConcurrency, time.Second); err != nil {
			return err
		}
	}
	for _, x := range targets {
		say("  %s: %d clients for %s", x.t.name, b.cfg.loadConcurrency, b.cfg.loadDuration)
		if *x.into, err = load(ctx, x.t, b.cfg.loadConcurrency, b.cfg.loadDuration); err != nil {
			return err
		}
	}
	calls, err := b.audit.manager(start, time.Now())
	if err != nil {
		return err
	}
	res.writes = tally(calls, apiCall.isWrite)
	rep.access = res
	return nil
}

// validPasscodes reads up to n passcodes of the operator phase from their Secrets. They stay in
// memory only: never printed, never written.
func (b *bench) validPasscodes(ctx context.Context, n int) ([]string, error) {
	u := b.operatorUsers()
	var codes []string
	for i := 0; i < u.n && len(codes) < n; i++ {
		s := &corev1.Secret{}
		if err := b.cl.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: u.passcode(i)}, s); err != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", u.passcode(i), err)
		}
		if code := string(s.Data[passcodesecret.KeyPasscode]); code != "" {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return nil, errors.New("no Secret of the operator phase holds a passcode")
	}
	return codes, nil
}

func trivialTarget(url string) target {
	return target{name: "GET trivial server", make: func(int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, url, nil)
	}}
}

func verifyTarget(url string, codes []string) target {
	bodies := make([][]byte, len(codes))
	for i, c := range codes {
		bodies[i], _ = json.Marshal(map[string]string{"account": operatorNamespace, "passcode": c}) // strings always marshal
	}
	return target{name: "POST /v1/verify", make: func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}}
}

func authTarget(url string, codes []string) target {
	return target{name: "GET /v1/auth", make: func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err == nil {
			req.Header.Set("X-Dashboard-Account-Id", operatorNamespace)
			req.Header.Set("X-Dashboard-Passcode", codes[i%len(codes)])
		}
		return req, err
	}}
}

// warmup requests open the keep-alive connections and fill caches before timing starts.
const warmup = 200

// load sends t's requests from concurrency keep-alive clients for d and measures each; requests
// cycle through the passcodes round-robin.
func load(ctx context.Context, t target, concurrency int, d time.Duration) (loadResult, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	for i := range warmup {
		if _, _, err := send(ctx, hc, t, i); err != nil && ctx.Err() != nil {
			return loadResult{}, ctx.Err()
		}
	}
	var next atomic.Int64
	workers := make([]worker, concurrency)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[w].run(ctx, hc, t, &next, deadline)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return loadResult{}, ctx.Err()
	}
	return summarize(t.name, workers, elapsed), nil
}

// worker is one client's measurements.
type worker struct {
	latencies []time.Duration
	statuses  map[int]int
	errors    int
}

func (w *worker) run(ctx context.Context, hc *http.Client, t target, next *atomic.Int64, deadline time.Time) {
	w.statuses = map[int]int{}
	for ctx.Err() == nil && time.Now().Before(deadline) {
		status, took, err := send(ctx, hc, t, int(next.Add(1)))
		w.latencies = append(w.latencies, took)
		switch {
		case err != nil:
			w.errors++
		case status != http.StatusOK:
			w.statuses[status]++
		}
	}
}

func send(ctx context.Context, hc *http.Client, t target, i int) (int, time.Duration, error) {
	req, err := t.make(i)
	if err != nil {
		return 0, 0, err
	}
	req = req.WithContext(ctx)
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // read to the end, so the connection is reused
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

func summarize(name string, workers []worker, elapsed time.Duration) loadResult {
	r := loadResult{name: name, statuses: map[int]int{}}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.latencies...)
		r.errors += w.errors
		for code, n := range w.statuses {
			r.statuses[code] += n
		}
	}
	slices.Sort(all)
	r.requests = len(all)
	r.rps = float64(len(all)) / elapsed.Seconds()
	r.p50, r.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

// percentile of sorted durations (nearest rank); 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedDurations(d []time.Duration) []time.Duration {
	out := slices.Clone(d)
	slices.Sort(out)
	return out
}

// trivialProcess is this binary serving the trivial HTTP server.
type trivialProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startTrivial re-executes this binary with -trivial-server and waits until it answers.
func startTrivial(ctx context.Context, addr string) (*trivialProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-trivial-server="+addr) //nolint:gosec // this very binary
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group, so Ctrl-C reaches only the bench, which stops it; it dies with the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the trivial server: %w", err)
	}
	p := &trivialProcess{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if resp, err := hc.Get("http://" + addr + "/"); err == nil {
			_ = resp.Body.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, errors.New("the trivial server exited at start")
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("the trivial server did not answer on %s within 10 s", addr)
}

func (p *trivialProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// serveTrivial is the whole trivial server: 200 with a tiny body, until SIGTERM or SIGINT.
func serveTrivial(addr string) error {
	ok := []byte("ok\n")
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(ok)
		}),
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
