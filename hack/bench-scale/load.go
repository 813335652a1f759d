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
	"strings"
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

// accessResult is one access phase's figures.
type accessResult struct {
	concurrency int
	duration    time.Duration
	passcodes   int // valid passcodes the load cycles through
	cached      int // users (each with one Passcode) in the manager's cache meanwhile
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

// credential is a valid passcode and its account (the namespace of its Passcode), with the names
// of its Passcode and user (whose last use the manager stamps).
type credential struct {
	account, code  string
	passcode, user string
}

// warmUsers are the access1k phase's users, made before the operator phase's: the access server
// is measured with them alone in the cache, and again (access phase) with every user.
func warmUsers() userSet { return userSet{prefix: warmPrefix, n: 1000, tenure: benchTenure} }

const warmPrefix = "warm"

// isWarm is whether a call is about the access1k phase's users (their objects and Events): the
// operator phase's counts leave them out.
func isWarm(c apiCall) bool { return strings.HasPrefix(c.name, warmPrefix+"-") }

// runAccess1k creates the warm users, waits for them, and loads the access server with 1000 users
// cached: the base of the access phase's ratios.
func (b *bench) runAccess1k(ctx context.Context, rep *report) error {
	u := warmUsers()
	p, err := b.track(ctx, u)
	if err != nil {
		return err
	}
	say("  creating %d users for the access server's base figures", u.n)
	if _, _, err := b.createUsers(ctx, u); err != nil {
		p.close()
		return err
	}
	for _, m := range []*milestone{p.passcodes, p.secrets} {
		if err := b.await(ctx, m, "warm Passcodes Active with their Secret", b.cfg.timeout); err != nil {
			p.close()
			return err
		}
	}
	p.close()
	if rep.access1k, err = b.measureAccess(ctx, u, u.n); err != nil {
		return err
	}
	// The last-use stamps of the load are written within a minute; the operator phase starts once
	// the manager is quiet, and leaves the warm users' writes out of its counts anyway.
	return b.waitQuiet(ctx)
}

func (b *bench) runAccess(ctx context.Context, rep *report) error {
	cached := b.cfg.n
	if rep.access1k != nil {
		cached += warmUsers().n
	}
	var err error
	rep.access, err = b.measureAccess(ctx, b.operatorUsers(), cached)
	return err
}

// measureAccess loads the trivial server and the manager's /v1/verify and /v1/auth with
// passcodes of u, one after the other.
func (b *bench) measureAccess(ctx context.Context, u userSet, cached int) (*accessResult, error) {
	codes, err := b.validPasscodes(ctx, u, accessPasscodes)
	if err != nil {
		return nil, err
	}
	if b.trivial == nil {
		addr, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		if b.trivial, err = startTrivial(ctx, addr); err != nil {
			return nil, err
		}
		b.trivialAddr = addr
	}
	res := &accessResult{concurrency: b.cfg.loadConcurrency, duration: b.cfg.loadDuration, passcodes: len(codes), cached: cached}
	start := time.Now()
	targets := []struct {
		into *loadResult
		t    target
	}{
		{&res.trivial, trivialTarget("http://" + b.trivialAddr + "/")},
		{&res.verify, verifyTarget(b.mgr.AccessURL()+"/v1/verify", codes)},
		{&res.auth, authTarget(b.mgr.AccessURL()+"/v1/auth", codes)},
	}
	// Warm up every endpoint first: each passcode's first use (and its user's) is stamped in status
	// (coalesced to one write per object per minute), and that burst must not land on whichever
	// endpoint is measured first.
	for _, x := range targets {
		if _, err := load(ctx, x.t, b.cfg.loadConcurrency, time.Second); err != nil {
			return nil, err
		}
	}
	for _, x := range targets {
		say("  %s: %d clients for %s, %d users cached", x.t.name, b.cfg.loadConcurrency, b.cfg.loadDuration, cached)
		if *x.into, err = load(ctx, x.t, b.cfg.loadConcurrency, b.cfg.loadDuration); err != nil {
			return nil, err
		}
	}
	calls, err := b.audit.manager(start, time.Now())
	if err != nil {
		return nil, err
	}
	res.writes = tally(calls, apiCall.isWrite)
	return res, nil
}

// validPasscodes reads up to n passcodes of u from their Secrets. They stay in memory only: never
// printed, never written.
func (b *bench) validPasscodes(ctx context.Context, u userSet, n int) ([]credential, error) {
	var codes []credential
	for i := 0; i < u.n && len(codes) < n; i++ {
		s := &corev1.Secret{}
		if err := b.cl.Get(ctx, client.ObjectKey{Namespace: u.namespace(i), Name: u.passcode(i)}, s); err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s: %w", u.namespace(i), u.passcode(i), err)
		}
		if code := string(s.Data[passcodesecret.KeyPasscode]); code != "" {
			codes = append(codes, credential{account: u.namespace(i), code: code, passcode: u.passcode(i), user: u.user(i)})
		}
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("no Secret of the %s users holds a passcode", u.prefix)
	}
	return codes, nil
}

func trivialTarget(url string) target {
	return target{name: "GET trivial server", make: func(int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, url, nil)
	}}
}

func verifyTarget(url string, codes []credential) target {
	bodies := make([][]byte, len(codes))
	for i, c := range codes {
		bodies[i], _ = json.Marshal(map[string]string{"account": c.account, "passcode": c.code}) // strings always marshal
	}
	return target{name: "POST /v1/verify", make: func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}}
}

func authTarget(url string, codes []credential) target {
	return target{name: "GET /v1/auth", make: func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err == nil {
			c := codes[i%len(codes)]
			req.Header.Set("X-Dashboard-Account-Id", c.account)
			req.Header.Set("X-Dashboard-Passcode", c.code)
		}
		return req, err
	}}
}

// warmup requests open the keep-alive connections and fill caches before timing starts.
const warmup = 200

// load sends t's requests from concurrency keep-alive clients for d and measures each; requests
// cycle through the passcodes round-robin.
func load(ctx context.Context, t target, concurrency int, d time.Duration) (loadResult, error) {
	deadline := time.Now().Add(d)
	return loadWhile(ctx, t, concurrency, func() bool { return time.Now().Before(deadline) })
}

// loadWhile is load until more returns false.
func loadWhile(ctx context.Context, t target, concurrency int, more func() bool) (loadResult, error) {
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
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[w].run(ctx, hc, t, &next, more)
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

func (w *worker) run(ctx context.Context, hc *http.Client, t target, next *atomic.Int64, more func() bool) {
	w.statuses = map[int]int{}
	for ctx.Err() == nil && more() {
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
