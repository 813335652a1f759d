package main

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// This file measures how late the operator ends 1-minute passcodes: the lag between a Passcode's
// status.expiresAt and the moment the bench's watch sees its Secret lose the passcode, and how
// many writes each expiry cost (from the audit log).

const (
	expiryTenure = "1m" // the shortest tenure the API accepts
	// expiryMargin is how long after the last expiresAt the bench waits for the last wipe.
	expiryMargin = 2 * time.Minute
)

// expiryResult is the expiry phase's figures.
type expiryResult struct {
	n         int
	create    time.Duration // first create to last create
	active    time.Duration // first create to the last Passcode seen Active
	spread    time.Duration // max - min status.expiresAt
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

	mu        sync.Mutex
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
	t.mu.Lock()
	if first, seen := t.expiresAt[pc.Name]; !seen {
		t.expiresAt[pc.Name] = pc.Status.ExpiresAt.Time
	} else if !first.Equal(pc.Status.ExpiresAt.Time) {
		t.moved[pc.Name] = true
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
	if err := b.await(ctx, t.active, "short Passcodes Active", b.cfg.timeout); err != nil {
		return err
	}
	res.active = t.active.lastAt().Sub(start)
	first, last := t.window()
	res.spread = last.Sub(first)
	say("  all were Active %s after the first create; expiresAt spread %s; waiting for every Secret to be wiped",
		res.active.Round(time.Millisecond), res.spread)
	if err := b.await(ctx, t.wiped, "Secrets wiped", time.Until(last.Add(expiryMargin))); err != nil {
		if ctx.Err() != nil || !b.mgr.Running() {
			return err
		}
		say("  %v", err) // reported as Secrets not wiped
	}
	// The status phase is written in the same reconcile as the wipe; give the last ones a moment.
	_ = b.await(ctx, t.expired, "Passcodes Expired", 10*time.Second)
	t.summarize(res)
	if err := b.countExpiryWrites(first, t, res); err != nil {
		return err
	}
	rep.expiry = res
	return nil
}

func (t *expiryTracker) summarize(res *expiryResult) {
	res.secretLag = t.lags(t.wiped)
	res.statusLag = t.lags(t.expired)
	res.notWiped = res.n - t.wiped.reached()
	t.mu.Lock()
	defer t.mu.Unlock()
	res.expiresMoved, res.refilled = len(t.moved), len(t.refilled)
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
