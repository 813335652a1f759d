// Command bench-scale measures the operator at scale on a real control plane (etcd, kube-apiserver
// built by hack/control-plane.sh) with the real manager binary, built fresh from this tree:
// how long N users take against a plain client doing the minimum, what the manager writes and
// reads per user (counted from the API server's audit log), writes when idle and after a restart,
// heap per 1k users, expiry lag, and the access server's throughput against a trivial HTTP server.
// Every figure comes from outside the manager: the audit log, watches, pprof over HTTP, and HTTP.
//
// Usage: KUBEBUILDER_ASSETS=$(hack/control-plane.sh print-dir) go run ./hack/bench-scale -n 1000
// (`make bench-scale N=1000`). Progress goes to stderr, the report to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Phases, in the order they run; -skip takes a comma-separated list of them.
const (
	phaseRaw      = "raw"      // plain client loop in an unwatched namespace
	phaseOperator = "operator" // N users through the manager, with the audit log's counts
	phaseHeap     = "heap"     // heap before and after the operator phase
	phaseSecrets  = "secrets"  // heap growth with unrelated Secrets
	phaseIdle     = "idle"     // writes while nothing happens
	phaseRestart  = "restart"  // writes after a restart, passcodes unchanged
	phaseExpiry   = "expiry"   // expiry lag of passcodes expiring in the same second
	phaseAccess   = "access"   // access server throughput vs a trivial server, all users cached
	phaseAccess1k = "access1k" // the same with 1000 users cached, before the operator phase
)

var allPhases = []string{phaseRaw, phaseAccess1k, phaseOperator, phaseHeap, phaseSecrets, phaseIdle, phaseRestart, phaseExpiry, phaseAccess}

// needsOperator are the phases that measure or use the operator phase's users.
var needsOperator = []string{phaseHeap, phaseSecrets, phaseRestart, phaseAccess}

// config is the command line.
type config struct {
	n               int
	namespaces      int
	workers         int
	idle            time.Duration
	expiryN         int
	loadConcurrency int
	loadDuration    time.Duration
	timeout         time.Duration
	skip            map[string]bool
	keep            bool
	managerArgs     []string
	// maxWritesPerUser and maxHeapPer1000 (MiB) make those figures "must" checks when positive.
	maxWritesPerUser float64
	maxHeapPer1000   float64

	// trivialServer, when set, makes this process the trivial HTTP server of the access phase.
	trivialServer string
}

// hiddenFlags are for the bench's own child processes, not for people.
var hiddenFlags = map[string]bool{"trivial-server": true}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench-scale", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", 1000, "Users (DashboardUser + Passcode) in the raw and operator phases.")
	fs.IntVar(&c.namespaces, "namespaces", 1, "Namespaces the operator phase's users are spread over (round-robin); with more than 1 "+
		"the manager watches every namespace.")
	fs.IntVar(&c.workers, "workers", 32, "Concurrent clients creating objects (raw and operator phases).")
	fs.DurationVar(&c.idle, "idle", 30*time.Second, "How long the manager's writes are counted when idle, and after its restart.")
	fs.IntVar(&c.expiryN, "expiry-n", 1000, "Users with a 1m passcode in the expiry phase.")
	fs.IntVar(&c.loadConcurrency, "load-concurrency", 16, "Concurrent keep-alive HTTP clients in the access phase.")
	fs.DurationVar(&c.loadDuration, "load-duration", 5*time.Second, "How long each endpoint is loaded in the access phase.")
	fs.DurationVar(&c.timeout, "timeout", 0, "Longest wait for the operator to finish one phase (default 15m plus 100ms per user).")
	fs.Float64Var(&c.maxWritesPerUser, "max-writes-per-user", 0, "Fail when the manager's writes per user in the operator phase "+
		"(trailing ones included) exceed this (0: report only).")
	fs.Float64Var(&c.maxHeapPer1000, "max-heap-per-1000", 0, "Fail when the manager's heap growth per 1000 users exceeds this many MiB (0: report only).")
	skip := fs.String("skip", "", "Comma-separated phases to skip: "+strings.Join(allPhases, ","))
	fs.BoolVar(&c.keep, "keep", false, "Keep the temporary folder (audit log, manager log, kubeconfig) and print its path.")
	extra := fs.String("manager-args", "", "More manager flags, space-separated (e.g. \"--kube-api-qps=200 --kube-api-burst=400\").")
	fs.StringVar(&c.trivialServer, "trivial-server", "", "Internal: serve the trivial HTTP server on this address and nothing else.")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: bench-scale [flags]\n\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			if !hiddenFlags[f.Name] {
				fmt.Fprintf(os.Stderr, "  -%s (default %q)\n    \t%s\n", f.Name, f.DefValue, f.Usage)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.managerArgs = strings.Fields(*extra)
	if c.timeout == 0 {
		c.timeout = scaled(15*time.Minute, 100*time.Millisecond, c.n)
	}
	var err error
	if c.skip, err = parseSkip(*skip); err != nil {
		return c, err
	}
	return c, c.validate()
}

func parseSkip(s string) (map[string]bool, error) {
	skip := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("-skip: unknown phase %q (phases: %s)", p, strings.Join(allPhases, ","))
		}
		skip[p] = true
	}
	if skip[phaseAccess] {
		skip[phaseAccess1k] = true // its figures are only the base of the access phase's ratios
	}
	if skip[phaseOperator] {
		for _, p := range needsOperator {
			skip[p] = true
		}
	}
	return skip, nil
}

func (c config) validate() error {
	var errs []error
	positive := map[string]int{"-n": c.n, "-namespaces": c.namespaces, "-workers": c.workers, "-expiry-n": c.expiryN, "-load-concurrency": c.loadConcurrency}
	for name, v := range positive {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", name, v))
		}
	}
	for name, d := range map[string]time.Duration{"-idle": c.idle, "-load-duration": c.loadDuration, "-timeout": c.timeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.namespaces > c.n {
		errs = append(errs, fmt.Errorf("-namespaces must be at most -n (%d), got %d", c.n, c.namespaces))
	}
	for name, v := range map[string]float64{"-max-writes-per-user": c.maxWritesPerUser, "-max-heap-per-1000": c.maxHeapPer1000} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (report only) or positive, got %g", name, v))
		}
	}
	return errors.Join(errs...)
}

// scaled is base plus perUser for each of n users: the waits that grow with the number of users.
func scaled(base, perUser time.Duration, n int) time.Duration {
	return base + time.Duration(n)*perUser
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-scale: %v\n", err)
		os.Exit(2)
	}
	if c.trivialServer != "" {
		if err := serveTrivial(c.trivialServer); err != nil {
			fmt.Fprintf(os.Stderr, "bench-scale trivial server: %v\n", err)
			os.Exit(1)
		}
		return
	}
	// Ctrl-C or SIGTERM cancels ctx: every wait returns and the deferred cleanups stop the manager,
	// the trivial server and the control plane, and remove the temporary folder.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, c)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		if interrupted {
			err = fmt.Errorf("interrupted (%w)", err)
		}
		fmt.Fprintf(os.Stderr, "bench-scale: %v\n", err)
		os.Exit(1)
	}
}

// say prints progress on stderr, so that stdout holds the report only.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run starts everything, runs each phase not skipped, prints the report, and fails when a check
// the operator must pass did not hold.
func run(ctx context.Context, c config) error {
	started := time.Now()
	// The bench's informers log through controller-runtime: errors only, on stderr with the progress.
	crlog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	b, err := newBench(ctx, c)
	if err != nil {
		return err
	}
	defer b.close()
	rep := &report{cfg: c, managerArgs: b.managerArgs()}
	if rep.machine, err = b.machineInfo(); err != nil {
		return err
	}
	phasesErr := b.runPhases(ctx, rep)
	rep.wall = time.Since(started)
	if phasesErr != nil && ctx.Err() == nil {
		// What the phases before the failure measured is still worth reading.
		rep.incomplete = phasesErr.Error()
	}
	if phasesErr == nil || rep.incomplete != "" {
		if err := rep.write(os.Stdout); err != nil {
			return fmt.Errorf("printing the report: %w", err)
		}
	}
	if phasesErr != nil {
		return phasesErr
	}
	if b.keepDir() {
		say("kept %s (audit.log, manager.log, kubeconfig)", b.dir)
	}
	return rep.failedChecks()
}

// runPhases runs the phases in order; a phase that fails stops the run.
func (b *bench) runPhases(ctx context.Context, rep *report) error {
	steps := []struct {
		phase string
		run   func(context.Context, *report) error
	}{
		{phaseRaw, b.runRaw},
		// The manager starts after the raw phase: with -namespaces > 1 it watches every namespace,
		// and the raw phase's objects are gone by then.
		{"start", b.startAfterRaw},
		{phaseAccess1k, b.runAccess1k},
		{phaseOperator, b.runOperator},
		{phaseSecrets, b.runUnrelatedSecrets},
		{phaseIdle, b.runIdle},
		{phaseRestart, b.runRestart},
		{phaseExpiry, b.runExpiry},
		{phaseAccess, b.runAccess},
	}
	for _, s := range steps {
		if s.phase == "start" {
			if err := s.run(ctx, rep); err != nil {
				return err
			}
			continue
		}
		if b.cfg.skip[s.phase] {
			say("phase %s: skipped", s.phase)
			continue
		}
		say("phase %s", s.phase)
		if err := b.audit.forget(time.Now()); err != nil {
			return err
		}
		if err := s.run(ctx, rep); err != nil {
			return fmt.Errorf("phase %s: %w", s.phase, err)
		}
	}
	return nil
}
