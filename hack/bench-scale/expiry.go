package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// This file measures how late the operator ends passcodes that all expire in the same second: the
// lag between a Passcode's status.expiresAt and the moment the bench's watch sees its Secret lose
// the passcode, and how many writes each expiry cost (from the audit log).
//
// The operator issues about a hundred passcodes a second here, so passcodes created together
// expire over many seconds. To get one burst, the bench stops the manager, sets status.expiresAt
// and the Secret's expiresAt key of every passcode to the same second (what the manager would
// have written had it issued them all at once), and starts the manager again. The restarted
// manager finds them consistent, writes nothing, and schedules each expiry for that second.

const (
	// expiryTenure is long enough that nothing expires on its own before the aligned second.
	expiryTenure = "1h"
	// expiryMargin is how long after the aligned expiresAt the bench waits for the last wipe.
	expiryMargin = 2 * time.Minute
	// expiryLead is how far ahead the aligned second is: time to rewrite every passcode, restart
	// the manager and let it settle, plus a per-passcode share for large -expiry-n. Settling
	// includes the passcode.expiring notifications (on by default), which the moved expiresAt makes
	// due at once: in a real burst they went out renewBefore earlier, so they must not overlap it.
	expiryLead       = 20 * time.Second
	expiryLeadPerOne = 40 * time.Millisecond
	// expiryLeadPerUser is the restart's share: the manager's caches hold every user of the run
	// (its start took 3.4 s with 10,000 users; 1 ms each leaves room three times over).
	expiryLeadPerUser = time.Millisecond
)

// expiryResult is the expiry phase's figures.
type expiryResult struct {
	n      int
	create time.Duration // first create to last create
	active time.Duration // first create to the last Passcode seen Active
	spread time.Duration // max - min status.expiresAt as issued, before the bench aligned them
	at     time.Time     // the aligned expiresAt
	// headroom is how long before the aligned second the restarted manager was ready.
	headroom  time.Duration
	aligned   int    // Passcodes the bench's watch saw Active with the aligned expiresAt
	cpu       cpuUse // what each process used from the aligned expiresAt to the last wipe
	secretLag []time.Duration
	statusLag []time.Duration // status.phase=Expired seen minus status.expiresAt
	// wipeWriteLag is when the API server received the manager's first write of the Secret after
	// expiresAt, minus expiresAt: the operator's own lag, without the bench's watch in it.
	wipeWriteLag  []time.Duration
	notWiped      int         // Secrets still holding a passcode at the end of the wait
	expiresMoved  int         // Passcodes whose status.expiresAt changed while Active
	refilled      int         // Secrets that held a passcode again after the wipe
	secretWrites  map[int]int // writes to a Passcode's Secret after its expiresAt -> Passcodes
	statusWrites  map[int]int // writes to a Passcode's status after its expiresAt -> Passcodes
	writesPerUser []callRow   // every manager write on an expired user's objects after expiry
}

// expiryTracker follows one batch of short passcodes from the bench's watches.
type expiryTracker struct {
	active, wiped, expired *milestone
	want                   map[string]bool // this batch's Passcode (and Secret) names

	mu sync.Mutex
	// target, once set, is the aligned expiresAt: from then on expiresAt only records Passcodes
	// seen Active with it, and a later different value counts as moved.
	target    time.Time
	expiresAt map[string]time.Time // Passcode name -> status.expiresAt when first seen Active
	moved     map[string]bool
	filled    map[string]bool // the Secret held a passcode at some point
	refilled  map[string]bool
}

func newExpiryTracker(u userSet) *expiryTracker {
	names := u.passcodes()
	t := &expiryTracker{
		active: newMilestone(names), wiped: newMilestone(names), expired: newMilestone(names), want: map[string]bool{},
		expiresAt: map[string]time.Time{}, moved: map[string]bool{}, filled: map[string]bool{}, refilled: map[string]bool{},
	}
	for _, n := range names {
		t.want[n] = true
	}
	return t
}

func (t *expiryTracker) onPasscode(o client.Object, now time.Time) {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok || !t.want[pc.Name] {
		return
	}
	if pc.Status.Phase == accessv1alpha1.PasscodeExpired {
		t.expired.mark(pc.Name, now)
	}
	if !passcodeReady(pc) || pc.Status.ExpiresAt == nil {
		return
	}
	at := pc.Status.ExpiresAt.Time
	t.mu.Lock()
	first, seen := t.expiresAt[pc.Name]
	switch {
	case seen && !first.Equal(at):
		t.moved[pc.Name] = true
	case !seen && (t.target.IsZero() || t.target.Equal(at)):
		t.expiresAt[pc.Name] = at
	}
	t.mu.Unlock()
	t.active.mark(pc.Name, now)
}

func (t *expiryTracker) onSecret(o client.Object, now time.Time) {
	s, ok := o.(*corev1.Secret)
	if !ok || !t.want[s.Name] {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case secretFilled(s) && t.wipedLocked(s.Name):
		t.refilled[s.Name] = true
	case secretFilled(s):
		t.filled[s.Name] = true
	case t.filled[s.Name]:
		t.wiped.mark(s.Name, now)
	}
}

func (t *expiryTracker) wipedLocked(name string) bool {
	t.wiped.mu.Lock()
	defer t.wiped.mu.Unlock()
	_, ok := t.wiped.first[name]
	return ok
}

// lags returns, per Passcode with a known expiresAt, when m saw it minus its expiresAt.
func (t *expiryTracker) lags(m *milestone) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	for name, at := range m.first {
		if exp, ok := t.expiresAt[name]; ok {
			out = append(out, at.Sub(exp))
		}
	}
	return out
}

// align forgets the expiresAt seen so far: from now on only the aligned one counts.
func (t *expiryTracker) align(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.target, t.expiresAt, t.moved = at, map[string]time.Time{}, map[string]bool{}
}

// window is the earliest and latest expiresAt.
func (t *expiryTracker) window() (first, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, at := range t.expiresAt {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return first, last
}

func (b *bench) runExpiry(ctx context.Context, rep *report) error {
	u := userSet{prefix: "expiry", n: b.cfg.expiryN, tenure: expiryTenure}
	res := &expiryResult{n: u.n}
	t := newExpiryTracker(u)
	stopPC, err := b.onChange(ctx, &accessv1alpha1.Passcode{}, t.onPasscode)
	if err != nil {
		return err
	}
	defer stopPC()
	stopSecret, err := b.onChange(ctx, &corev1.Secret{}, t.onSecret)
	if err != nil {
		return err
	}
	defer stopSecret()
	say("  creating %d users with a %s Manual passcode", u.n, expiryTenure)
	start, created, err := b.createUsers(ctx, u)
	if err != nil {
		return err
	}
	res.create = created
	if err := b.await(ctx, t.active, "expiry Passcodes Active", b.cfg.timeout); err != nil {
		return err
	}
	res.active = t.active.lastAt().Sub(start)
	first, last := t.window()
	res.spread = last.Sub(first)
	say("  all were Active %s after the first create; expiresAt spread %s", res.active.Round(time.Millisecond), res.spread)
	if err := b.alignExpiry(ctx, u, t, res); err != nil {
		return err
	}
	say("  the manager was ready %s before the aligned expiresAt %s; waiting for every Secret to be wiped",
		res.headroom.Round(time.Millisecond), res.at.Format(time.RFC3339))
	if err := sleep(ctx, time.Until(res.at)); err != nil {
		return err
	}
	cpuBefore, cpuStart := sampleCPU(b.dir), time.Now()
	err = b.await(ctx, t.wiped, "Secrets wiped", time.Until(res.at.Add(expiryMargin)))
	res.cpu = cpuSince(b.dir, cpuBefore, cpuStart)
	if err != nil {
		if ctx.Err() != nil || !b.mgr.Running() {
			return err
		}
		say("  %v", err) // reported as Secrets not wiped
	}
	// The status phase is written in the same reconcile as the wipe; give the last ones a moment.
	_ = b.await(ctx, t.expired, "Passcodes Expired", 10*time.Second)
	t.summarize(res)
	if err := b.countExpiryWrites(res.at, t, res); err != nil {
		return err
	}
	rep.expiry = res
	return nil
}

// alignExpiry stops the manager, moves every passcode's expiresAt (status and Secret) to the same
// second and starts the manager again.
func (b *bench) alignExpiry(ctx context.Context, u userSet, t *expiryTracker, res *expiryResult) error {
	say("  stopping the manager to give all %d passcodes the same expiresAt", u.n)
	if err := b.mgr.Terminate(managerStopTimeout); err != nil {
		return err
	}
	lead := expiryLead + time.Duration(u.n)*expiryLeadPerOne + time.Duration(b.cfg.n)*expiryLeadPerUser
	res.at = time.Now().Add(lead).Truncate(time.Second)
	t.align(res.at)
	stamp := res.at.UTC().Format(time.RFC3339)
	err := parallel(ctx, u.n, b.cfg.workers, func(ctx context.Context, i int) error {
		name := u.passcode(i)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name}}
		data := fmt.Appendf(nil, `{"data":{%q:%q}}`, passcodesecret.KeyExpiresAt, base64.StdEncoding.EncodeToString([]byte(stamp)))
		if err := b.cl.Patch(ctx, secret, client.RawPatch(types.MergePatchType, data)); err != nil {
			return fmt.Errorf("setting the expiresAt of Secret %s: %w", name, err)
		}
		pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name}}
		status := fmt.Appendf(nil, `{"status":{"expiresAt":%q}}`, stamp)
		if err := b.cl.Status().Patch(ctx, pc, client.RawPatch(types.MergePatchType, status)); err != nil {
			return fmt.Errorf("setting status.expiresAt of Passcode %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	say("  expiresAt set to %s; starting the manager again", stamp)
	if err := b.startManager(ctx); err != nil {
		return err
	}
	if err := b.awaitQuiet(ctx, res.at); err != nil {
		return err
	}
	res.headroom = time.Until(res.at)
	if res.headroom <= 0 {
		return fmt.Errorf("the manager settled %s after the aligned expiresAt: raise expiryLead", -res.headroom)
	}
	return nil
}

// awaitQuiet waits, until deadline, for 3 s in which the manager wrote nothing (audit log).
func (b *bench) awaitQuiet(ctx context.Context, deadline time.Time) error {
	for time.Now().Before(deadline) {
		from := time.Now().Add(-3 * time.Second)
		q, err := b.quiet(from, 3*time.Second)
		if err != nil {
			return err
		}
		if len(q.writes) == 0 {
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil // reported as no headroom
}

func (t *expiryTracker) summarize(res *expiryResult) {
	res.secretLag = t.lags(t.wiped)
	res.statusLag = t.lags(t.expired)
	res.notWiped = res.n - t.wiped.reached()
	t.mu.Lock()
	defer t.mu.Unlock()
	res.expiresMoved, res.refilled, res.aligned = len(t.moved), len(t.refilled), len(t.expiresAt)
}

// countExpiryWrites attributes the manager's writes after the first expiresAt to the expired
// user they touch (DashboardUser expiry-<i>, Passcode and Secret expiry-<i>-api, Events named
// after either) and keeps those made at or after that user's own expiresAt.
func (b *bench) countExpiryWrites(first time.Time, t *expiryTracker, res *expiryResult) error {
	calls, err := b.audit.manager(first, time.Now())
	if err != nil {
		return err
	}
	t.mu.Lock()
	expiresAt := t.expiresAt
	t.mu.Unlock()
	var after []apiCall
	for _, c := range calls {
		exp, ok := expiresAt[expiryPasscodeOf(c)]
		if ok && c.isWrite() && !c.at.Before(exp) {
			after = append(after, c)
		}
	}
	res.writesPerUser = tally(after, func(apiCall) bool { return true })
	res.wipeWriteLag = firstWriteLags(after, expiresAt)
	res.secretWrites = histogram(callsOn(after, func(c apiCall) bool { return c.resource == "secrets" }), expiresAt)
	res.statusWrites = histogram(callsOn(after, func(c apiCall) bool {
		return c.resource == "passcodes" && c.subresource == "status"
	}), expiresAt)
	return nil
}

// firstWriteLags is, per Passcode, its Secret's first write after expiry minus its expiresAt.
func firstWriteLags(after []apiCall, expiresAt map[string]time.Time) []time.Duration {
	first := map[string]time.Time{}
	for _, c := range after {
		if c.resource != "secrets" {
			continue
		}
		if at, seen := first[c.name]; !seen || c.at.Before(at) {
			first[c.name] = c.at
		}
	}
	out := make([]time.Duration, 0, len(first))
	for name, at := range first {
		out = append(out, at.Sub(expiresAt[name]))
	}
	return out
}

// expiryPasscodeOf names the expiry Passcode a call touches: Events are named <object>.<suffix>,
// and a DashboardUser expiry-<i> owns Passcode expiry-<i>-api.
func expiryPasscodeOf(c apiCall) string {
	name, _, _ := strings.Cut(c.name, ".")
	if !strings.HasPrefix(name, "expiry-") {
		return ""
	}
	if c.resource == "dashboardusers" || (c.isEvent() && !strings.HasSuffix(name, "-api")) {
		return name + "-api"
	}
	return name
}

// histogram turns writes per name into Passcodes per write count, counting those with none.
func histogram(perName map[string]int, all map[string]time.Time) map[int]int {
	out := map[int]int{}
	for name := range all {
		out[perName[name]]++
	}
	return out
}
