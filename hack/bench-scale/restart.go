package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// This file counts what the manager writes when nothing happens, and after a restart, when nothing
// should change either; during the restart a second replica must answer and take the lead, and
// the restarted replica's start-up reads show how its informers fill their caches.

// quietResult is the manager's requests over an interval in which nobody asked for anything.
type quietResult struct {
	window time.Duration
	writes []callRow
	reads  []callRow
}

// restartResult is the restart phase's figures.
type restartResult struct {
	quietResult
	stop, ready    time.Duration // SIGTERM to exit; start to /readyz 200
	answering      time.Duration // start to its access server accepting a valid passcode
	compared       int           // Passcodes compared before and after
	changed        int           // with another status.revision, status.hash or status.expiresAt
	secretsChanged int           // whose Secret holds another passcode

	// replicaReady is the second replica's start to /readyz 200 (caches synced, access server
	// listening) while the first one leads; its lists and watches meanwhile are startup.
	replicaReady time.Duration
	startup      startupReads
	// restartReads are the manager's lists and watches from the restart until it answered (both
	// replicas: the second one takes the lead meanwhile).
	restartReads startupReads
	// takeover is the first replica's SIGTERM to the second holding the Lease.
	takeover time.Duration
	// duringRestart is the second replica's /v1/verify, loaded from before the first replica's
	// SIGTERM until it answered again.
	duringRestart loadResult
	// lastUse are the writes on the loaded passcodes and their users (last-use stamps) in the
	// counting window, left out of writes.
	lastUse []callRow
}

// startupReads sums up a manager's lists and watches: how its informers filled their caches.
type startupReads struct {
	lists, paged, continued, unpaged, rv0 int
	maxLimit                              int64
	watches, streamed                     int
	rows                                  []callRow // by verb and resource
}

func summarizeReads(calls []apiCall) startupReads {
	var s startupReads
	for _, c := range calls {
		switch {
		case c.verb == verbList:
			s.lists++
			if c.page.limit > 0 {
				s.paged++
				s.maxLimit = max(s.maxLimit, c.page.limit)
			} else {
				s.unpaged++
			}
			if c.page.continued {
				s.continued++
			}
			if c.page.resourceVersion == "0" {
				s.rv0++
			}
		case c.isWatch():
			s.watches++
			if c.page.sendInitial {
				s.streamed++
			}
		}
	}
	s.rows = tally(calls, func(apiCall) bool { return true })
	return s
}

func (b *bench) runIdle(ctx context.Context, rep *report) error {
	if err := b.waitQuiet(ctx); err != nil {
		return err
	}
	say("  counting the manager's requests for %s", b.cfg.idle)
	start := time.Now()
	if err := sleep(ctx, b.cfg.idle); err != nil {
		return err
	}
	res, err := b.quiet(start, b.cfg.idle)
	if err != nil {
		return err
	}
	rep.idle = res
	return nil
}

func (b *bench) quiet(start time.Time, d time.Duration) (*quietResult, error) {
	calls, err := b.audit.manager(start, start.Add(d))
	if err != nil {
		return nil, err
	}
	// The access1k phase's last-use stamps of the warm users land up to a minute after its load:
	// they are the bench's load, not the manager's idling.
	notWarm := func(c apiCall) bool { return !isWarm(c) }
	return &quietResult{window: d, writes: tally(calls, both(apiCall.isWrite, notWarm)), reads: tally(calls, both(apiCall.isRead, notWarm))}, nil
}

func both(a, b func(apiCall) bool) func(apiCall) bool {
	return func(c apiCall) bool { return a(c) && b(c) }
}

// passcodeFingerprint is what must not change across a restart; the Secret's passcode is kept
// only as its SHA-256, so the bench never holds more plaintext than it needs.
type passcodeFingerprint struct {
	revision  int64
	hash      string
	expiresAt time.Time
	secret    [sha256.Size]byte
}

func (b *bench) fingerprints(ctx context.Context, u userSet) (map[string]passcodeFingerprint, error) {
	want := map[string]bool{}
	for _, n := range u.passcodes() {
		want[n] = true
	}
	out := map[string]passcodeFingerprint{}
	err := b.eachPage(ctx, &accessv1alpha1.PasscodeList{}, func(l client.ObjectList) {
		for _, pc := range l.(*accessv1alpha1.PasscodeList).Items {
			if !want[pc.Name] {
				continue
			}
			f := passcodeFingerprint{revision: pc.Status.Revision, hash: pc.Status.Hash}
			if pc.Status.ExpiresAt != nil {
				f.expiresAt = pc.Status.ExpiresAt.Time
			}
			out[pc.Name] = f
		}
	})
	if err != nil {
		return nil, err
	}
	err = b.eachPage(ctx, &corev1.SecretList{}, func(l client.ObjectList) {
		for _, s := range l.(*corev1.SecretList).Items {
			if f, ok := out[s.Name]; ok {
				f.secret = sha256.Sum256(s.Data[passcodesecret.KeyPasscode])
				out[s.Name] = f
			}
		}
	})
	return out, err
}

// listPage is the API server's default page: the bench reads N objects a page at a time, so that
// its memory holds one page, not every object.
const listPage = 500

// eachPage lists the operator phase's namespace (every namespace with -namespaces > 1) a page at a
// time, calling page on each.
func (b *bench) eachPage(ctx context.Context, list client.ObjectList, page func(client.ObjectList)) error {
	opts := []client.ListOption{client.Limit(listPage)}
	if !b.watchesAll() {
		opts = append(opts, client.InNamespace(operatorNamespace))
	}
	for cont := ""; ; {
		if err := b.cl.List(ctx, list, append(opts, client.Continue(cont))...); err != nil {
			return err
		}
		page(list)
		if cont = list.(metav1.ListInterface).GetContinue(); cont == "" {
			return nil
		}
	}
}

// leaseHolder is who holds the leader election Lease ("" when nobody does or there is none).
func (b *bench) leaseHolder(ctx context.Context) string {
	l := &coordinationv1.Lease{}
	if err := b.cl.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: setup.LeaderElectionID}, l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitForHolder polls the Lease until its holder is neither "" nor not, for at most timeout.
func (b *bench) waitForHolder(ctx context.Context, not string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if h := b.leaseHolder(ctx); h != "" && h != not {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no replica but %q took the Lease within %s", not, timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// startReplica2 starts the second replica (its own ports, log manager-2.log) and waits until it
// is ready; the first replica leads meanwhile.
func (b *bench) startReplica2(ctx context.Context, res *restartResult) error {
	pprof, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	b.replica, err = testenv.NewManagerProcess("manager-2", b.bin, b.cp.Kubeconfig, filepath.Join(b.dir, "manager-2.log"), b.replicaArgs(pprof)...)
	if err != nil {
		return err
	}
	say("  starting a second replica (leader election on; the first replica leads)")
	start := time.Now()
	if err := b.startReplica(ctx, b.replica); err != nil {
		return err
	}
	res.replicaReady = time.Since(start)
	reads, err := b.audit.managerReads(start, time.Now())
	if err != nil {
		return err
	}
	res.startup = summarizeReads(reads)
	say("  second replica ready in %s: %d lists (%d paged), %d watches (%d streaming their initial state)",
		ms(res.replicaReady), res.startup.lists, res.startup.paged, res.startup.watches, res.startup.streamed)
	return nil
}

// touchAccessServer sends one wrong passcode to m's access server (answered 401): its first
// request builds its index of the cache.
func touchAccessServer(ctx context.Context, m *testenv.ManagerProcess) error {
	t := verifyTarget(m.AccessURL()+"/v1/verify", []credential{{account: operatorNamespace, code: "not-a-passcode"}})
	if _, _, err := send(ctx, &http.Client{Timeout: 5 * time.Second}, t, 0); err != nil {
		return fmt.Errorf("asking %s's access server: %w", m.Name, err)
	}
	return nil
}

// answersPasscode waits until m's /v1/verify accepts c.
func answersPasscode(ctx context.Context, m *testenv.ManagerProcess, c credential, timeout time.Duration) error {
	t := verifyTarget(m.AccessURL()+"/v1/verify", []credential{c})
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		status, _, err := send(ctx, hc, t, 0)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's access server did not accept a valid passcode within %s (last: %d %v)", m.Name, timeout, status, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// restartLoadClients ask the second replica during the restart: a light load, so that the
// restarting replica is not starved of the cores.
const restartLoadClients = 4

// runRestart runs a second replica, then restarts the first (the leader) while the second one's
// access server is loaded: it must answer throughout and take the lead, and nothing may change.
func (b *bench) runRestart(ctx context.Context, rep *report) error {
	res := &restartResult{}
	before, err := b.fingerprints(ctx, b.operatorUsers())
	if err != nil {
		return err
	}
	codes, err := b.validPasscodes(ctx, b.operatorUsers(), accessPasscodes)
	if err != nil {
		return err
	}
	if err := b.startReplica2(ctx, res); err != nil {
		return err
	}
	leader := b.leaseHolder(ctx)

	// Load the second replica from before the SIGTERM until the first one answers again.
	var restarted atomic.Bool
	answers := make(chan loadResult, 1)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() {
		r, _ := loadWhile(loadCtx, verifyTarget(b.replica.AccessURL()+"/v1/verify", codes), restartLoadClients,
			func() bool { return !restarted.Load() })
		answers <- r
	}()
	say("  stopping the first replica (SIGTERM) while %d clients ask the second one", restartLoadClients)
	t := time.Now()
	if err := b.mgr.Terminate(managerStopTimeout); err != nil {
		return err
	}
	res.stop = time.Since(t)
	// The first replica starts again only once the second leads: otherwise the restarted one could
	// win the released Lease first, and the second would never have led.
	if err := b.waitForHolder(ctx, leader, b.readyTimeout()); err != nil {
		return err
	}
	res.takeover = time.Since(t)
	say("  starting it again")
	start := time.Now()
	if err := b.startManager(ctx); err != nil {
		return err
	}
	res.ready = time.Since(start)
	if err := answersPasscode(ctx, b.mgr, codes[0], b.readyTimeout()); err != nil {
		return err
	}
	res.answering = time.Since(start)
	restarted.Store(true)
	res.duringRestart = <-answers
	reads, err := b.audit.managerReads(start, start.Add(res.answering))
	if err != nil {
		return err
	}
	res.restartReads = summarizeReads(reads)
	say("  ready in %s, answering a valid passcode %s after its start; the second replica answered %d requests meanwhile (%d failed)",
		ms(res.ready), ms(res.answering), res.duringRestart.requests, res.duringRestart.failures())
	say("  counting the managers' requests for %s from the restart", b.cfg.idle)
	if err := sleep(ctx, time.Until(start.Add(b.cfg.idle))); err != nil {
		return err
	}
	// The load stamps its passcodes' last use (one status write per object per minute): those
	// writes are the load's, counted apart from what the restart wrote.
	loaded := map[string]bool{}
	for _, c := range codes {
		loaded[c.passcode], loaded[c.user] = true, true
	}
	calls, err := b.audit.manager(start, start.Add(b.cfg.idle))
	if err != nil {
		return err
	}
	res.quietResult = quietResult{window: b.cfg.idle,
		writes: tally(calls, func(c apiCall) bool { return c.isWrite() && !loaded[c.name] && !isWarm(c) }),
		reads:  tally(calls, apiCall.isRead)}
	res.lastUse = tally(calls, func(c apiCall) bool { return c.isWrite() && loaded[c.name] })
	after, err := b.fingerprints(ctx, b.operatorUsers())
	if err != nil {
		return err
	}
	res.compared, res.changed, res.secretsChanged = compareFingerprints(before, after)
	rep.restart = res
	return b.stopReplica2(ctx)
}

// stopReplica2 stops the second replica (the leader by now) and waits for the first to lead
// again, for the phases after this one.
func (b *bench) stopReplica2(ctx context.Context) error {
	leader := b.leaseHolder(ctx)
	say("  stopping the second replica; the first one takes the lead back")
	if err := b.replica.Terminate(managerStopTimeout); err != nil {
		return err
	}
	return b.waitForHolder(ctx, leader, b.readyTimeout())
}

func compareFingerprints(before, after map[string]passcodeFingerprint) (compared, changed, secretsChanged int) {
	for name, x := range before {
		y, ok := after[name]
		compared++
		if !ok || x.revision != y.revision || x.hash != y.hash || !x.expiresAt.Equal(y.expiresAt) {
			changed++
		}
		if !ok || x.secret != y.secret {
			secretsChanged++
		}
	}
	return compared, changed, secretsChanged
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
