package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// This file is the operator phase: N users and their Passcodes through the manager, timed by the
// bench's watches, with the manager's requests counted from the audit log.

// operatorResult is the operator phase's figures.
type operatorResult struct {
	create  time.Duration // first create to last create
	active  time.Duration // first create to every Passcode Active, Ready and its Secret filled
	invited time.Duration // first create to every DashboardUser Invited
	window  time.Duration // first create to the later of active and invited: the interval counted
	writes  []callRow     // the manager's writes over window
	reads   []callRow     // its gets and lists over window
	// trailing are the manager's writes after window until it had been quiet for quietFor: work
	// on these users that finished after the bench saw them ready.
	trailing []callRow
	rate     requestRate // the manager's requests per second over window
	events   eventSplit
	heap     *heapResult
	cpu      cpuUse // what each process used from the first create until all were ready
}

// requestRate is a request rate over an interval, on average and in its busiest second.
type requestRate struct {
	mean, peak float64
}

// eventSplit counts the manager's Events by the kind of object they are about.
type eventSplit struct {
	passcodes, users int
}

// userSet names the objects of one batch of users: DashboardUser <prefix>-<i>, email
// <prefix><i>@example.com, Passcode and Secret <prefix>-<i>-api, in namespace namespaceOf(i, k)
// (k 0 or 1: operatorNamespace). Names are unique across the namespaces.
type userSet struct {
	prefix string
	n      int
	tenure string
	k      int
}

func (u userSet) namespace(i int) string { return namespaceOf(i, max(u.k, 1)) }

func (u userSet) user(i int) string     { return fmt.Sprintf("%s-%d", u.prefix, i+1) }
func (u userSet) email(i int) string    { return fmt.Sprintf("%s%d@example.com", u.prefix, i+1) }
func (u userSet) passcode(i int) string { return u.user(i) + "-api" }

func (u userSet) users() []string     { return u.names(u.user) }
func (u userSet) passcodes() []string { return u.names(u.passcode) }

func (u userSet) names(name func(int) string) []string {
	out := make([]string, u.n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

// create makes user i and its Manual Passcode (whose Secret has the Passcode's name).
func (u userSet) create(ctx context.Context, cl client.Client, i int) error {
	du := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: u.namespace(i), Name: u.user(i)},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: u.email(i), Role: accessv1alpha1.RoleMember},
	}
	if err := cl.Create(ctx, du); err != nil {
		return fmt.Errorf("creating DashboardUser %s: %w", du.Name, err)
	}
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: u.namespace(i), Name: u.passcode(i)},
		Spec: accessv1alpha1.PasscodeSpec{
			UserRef: accessv1alpha1.UserReference{Name: du.Name}, Tenure: u.tenure,
			Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationManual},
		},
	}
	if err := cl.Create(ctx, pc); err != nil {
		return fmt.Errorf("creating Passcode %s: %w", pc.Name, err)
	}
	return nil
}

// passcodeReady is the Passcode the operator promises: Active, and Ready=True for its current
// generation.
func passcodeReady(pc *accessv1alpha1.Passcode) bool {
	if pc.Status.Phase != accessv1alpha1.PasscodeActive {
		return false
	}
	c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == pc.Generation
}

func secretFilled(s *corev1.Secret) bool { return len(s.Data[passcodesecret.KeyPasscode]) > 0 }

// operatorUsers are the operator phase's users; later phases use their passcodes.
func (b *bench) operatorUsers() userSet {
	return userSet{prefix: "user", n: b.cfg.n, tenure: benchTenure, k: b.cfg.namespaces}
}

// progress tracks one batch of users from the bench's watches.
type progress struct {
	passcodes, secrets, invited *milestone
	stop                        []func()
}

func (b *bench) track(ctx context.Context, u userSet) (*progress, error) {
	p := &progress{passcodes: newMilestone(u.passcodes()), secrets: newMilestone(u.passcodes()), invited: newMilestone(u.users())}
	handlers := []struct {
		obj    client.Object
		handle func(client.Object, time.Time)
	}{
		{&accessv1alpha1.Passcode{}, func(o client.Object, now time.Time) {
			if pc, ok := o.(*accessv1alpha1.Passcode); ok && passcodeReady(pc) {
				p.passcodes.mark(pc.Name, now)
			}
		}},
		{&corev1.Secret{}, func(o client.Object, now time.Time) {
			if s, ok := o.(*corev1.Secret); ok && secretFilled(s) {
				p.secrets.mark(s.Name, now)
			}
		}},
		{&accessv1alpha1.DashboardUser{}, func(o client.Object, now time.Time) {
			if du, ok := o.(*accessv1alpha1.DashboardUser); ok && du.Status.Phase == accessv1alpha1.UserInvited {
				p.invited.mark(du.Name, now)
			}
		}},
	}
	for _, h := range handlers {
		stop, err := b.onChange(ctx, h.obj, h.handle)
		if err != nil {
			p.close()
			return nil, err
		}
		p.stop = append(p.stop, stop)
	}
	return p, nil
}

func (p *progress) close() {
	for _, s := range p.stop {
		s()
	}
}

// activeAt is when the last Passcode became Ready with its Secret filled.
func (p *progress) activeAt() time.Time {
	a, s := p.passcodes.lastAt(), p.secrets.lastAt()
	if s.After(a) {
		return s
	}
	return a
}

// createUsers creates a batch with -workers clients and returns when the first create started.
func (b *bench) createUsers(ctx context.Context, u userSet) (time.Time, time.Duration, error) {
	start := time.Now()
	err := parallel(ctx, u.n, b.cfg.workers, func(ctx context.Context, i int) error { return u.create(ctx, b.cl, i) })
	return start, time.Since(start), err
}

func (b *bench) runOperator(ctx context.Context, rep *report) error {
	res := &operatorResult{}
	if !b.cfg.skip[phaseHeap] {
		res.heap = &heapResult{}
		// The access server builds its index of the cache on its first request: made before the
		// "before" sample, so that the growth is the users' alone (it was 0.8 MiB of noise, 3 MiB
		// per 1000 users at N=250, when no access phase ran first).
		if err := touchAccessServer(ctx, b.mgr); err != nil {
			return err
		}
		if err := b.heapInto(ctx, &res.heap.before); err != nil {
			return err
		}
	}
	cpuBefore, cpuStart := sampleCPU(b.dir), time.Now()
	start, end, err := b.operatorUsersReady(ctx, res)
	if err != nil {
		return err
	}
	res.cpu = cpuSince(b.dir, cpuBefore, cpuStart)
	res.window = end.Sub(start)
	if err := b.countOperatorCalls(start, end, res); err != nil {
		return err
	}
	if err := b.settle(ctx, end, res); err != nil {
		return err
	}
	rep.operator = res
	return nil
}

// operatorUsersReady creates the users and waits for them; it returns when the first create
// started and just after the last change the bench waited for.
func (b *bench) operatorUsersReady(ctx context.Context, res *operatorResult) (start, end time.Time, err error) {
	u := b.operatorUsers()
	p, err := b.track(ctx, u)
	if err != nil {
		return start, end, err
	}
	defer p.close()
	say("  creating %d DashboardUsers and Passcodes (tenure %s, Manual) with %d workers", u.n, u.tenure, b.cfg.workers)
	start, res.create, err = b.createUsers(ctx, u)
	if err != nil {
		return start, end, err
	}
	say("  created in %s; waiting for every Passcode to be Active and Ready with its Secret", res.create.Round(time.Millisecond))
	if err := b.await(ctx, p.passcodes, "Passcodes Active and Ready", b.cfg.timeout); err != nil {
		return start, end, err
	}
	if err := b.await(ctx, p.secrets, "Secrets with a passcode", b.cfg.timeout); err != nil {
		return start, end, err
	}
	res.active = p.activeAt().Sub(start)
	say("  all Active in %s; waiting for every user to be Invited", res.active.Round(time.Millisecond))
	if err := b.await(ctx, p.invited, "DashboardUsers Invited", b.cfg.timeout); err != nil {
		return start, end, err
	}
	res.invited = p.invited.lastAt().Sub(start)
	say("  all Invited in %s", res.invited.Round(time.Millisecond))
	end = p.invited.lastAt()
	if a := p.activeAt(); a.After(end) {
		end = a
	}
	return start, end.Add(time.Millisecond), nil // the last change seen is inside the window
}

// settle waits until the manager stops writing, counts what it wrote after end, and reads its heap.
func (b *bench) settle(ctx context.Context, end time.Time, res *operatorResult) error {
	if err := b.waitQuiet(ctx); err != nil {
		return err
	}
	trailing, err := b.audit.manager(end, time.Now())
	if err != nil {
		return err
	}
	res.trailing = tally(trailing, func(c apiCall) bool { return c.isWrite() && !isWarm(c) })
	if res.heap != nil {
		if err := b.heapInto(ctx, &res.heap.after); err != nil {
			return err
		}
		if b.cfg.keep {
			return b.saveHeapProfile(ctx, "heap-after-users.pb.gz")
		}
	}
	return nil
}

// countOperatorCalls reads the manager's requests in [start, end) from the audit log.
func (b *bench) countOperatorCalls(start, end time.Time, res *operatorResult) error {
	calls, err := b.audit.between(start, end, func(c apiCall) bool { return c.user == managerUser && !c.isWatch() && !isWarm(c) })
	if err != nil {
		return err
	}
	res.writes = tally(calls, apiCall.isWrite)
	res.reads = tally(calls, apiCall.isRead)
	res.rate = rateOf(calls, start, end)
	for _, c := range calls {
		if c.isEvent() && c.isWrite() {
			// Events are named <object>.<suffix>; Passcodes here are named <user>-api.
			if name, _, _ := strings.Cut(c.name, "."); strings.HasSuffix(name, "-api") {
				res.events.passcodes++
			} else {
				res.events.users++
			}
		}
	}
	return nil
}

// rateOf is the mean rate of calls over [start, end) and the highest count in one second of it.
func rateOf(calls []apiCall, start, end time.Time) requestRate {
	if !end.After(start) {
		return requestRate{}
	}
	perSecond := map[int64]int{}
	peak := 0
	for _, c := range calls {
		s := int64(c.at.Sub(start) / time.Second)
		perSecond[s]++
		peak = max(peak, perSecond[s])
	}
	return requestRate{mean: float64(len(calls)) / end.Sub(start).Seconds(), peak: float64(peak)}
}
