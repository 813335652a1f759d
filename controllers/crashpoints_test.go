package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/consumers"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Deterministic crash points: every flow is run once per API write it makes, with that write
// failing (it does not happen) and, separately, with the manager dying right after it (it happens,
// nothing after it does, and a new reconciler with empty memory takes over). After that the flow
// must roll forward to the right end state, with at most one passcode per revision and one link
// per invite number.

// faultPlan decides the fate of each API write of the faulted phase.
type faultPlan struct {
	mu      sync.Mutex
	active  bool
	failAt  int // this write (1-based) fails and does not happen
	crashAt int // this write happens; every later one fails (the process is gone)
	writes  int
	crashed bool
}

var errInjected = apierrors.NewInternalError(errors.New("injected fault"))

// around runs one write under the plan.
func (p *faultPlan) around(write func() error) error {
	p.mu.Lock()
	if !p.active {
		p.mu.Unlock()
		return write()
	}
	if p.crashed {
		p.mu.Unlock()
		return errInjected
	}
	p.writes++
	n := p.writes
	p.mu.Unlock()
	if n == p.failAt {
		return errInjected
	}
	err := write()
	if n == p.crashAt {
		p.mu.Lock()
		p.crashed = true
		p.mu.Unlock()
	}
	return err
}

func (p *faultPlan) isCrashed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashed
}

func faultyClient(t *testing.T, p *faultPlan, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	base := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithIndex(&corev1.Secret{}, "metadata.name", objectName).
		WithStatusSubresource(&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}).
		WithIndex(&accessv1alpha1.Passcode{}, UserRefIndex, UserRefIndexFunc).WithReturnManagedFields().Build()
	return interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			return p.around(func() error { return c.Create(ctx, o, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			return p.around(func() error { return c.Update(ctx, o, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return p.around(func() error { return c.Patch(ctx, o, patch, opts...) })
		},
		Apply: func(ctx context.Context, c client.WithWatch, o runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			return p.around(func() error { return c.Apply(ctx, o, opts...) })
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			return p.around(func() error { return c.Delete(ctx, o, opts...) })
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, patch client.Patch,
			opts ...client.SubResourcePatchOption) error {
			return p.around(func() error { return c.SubResource(sub).Patch(ctx, o, patch, opts...) })
		},
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, o runtime.ApplyConfiguration,
			opts ...client.SubResourceApplyOption) error {
			return p.around(func() error { return c.SubResource(sub).Apply(ctx, o, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			return p.around(func() error { return c.SubResource(sub).Update(ctx, o, opts...) })
		},
	})
}

// secretLedger records, per revision, every passcode the Secret was seen holding.
type secretLedger map[int64]map[string]bool

func (l secretLedger) observe(t *testing.T, c client.Client, name string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return
		}
		t.Fatal(err)
	}
	v := string(s.Data[passcodesecret.KeyPasscode])
	if v == "" {
		return
	}
	rev := passcodesecret.Revision(s)
	if l[rev] == nil {
		l[rev] = map[string]bool{}
	}
	l[rev][passcode.Hash(v)] = true
}

func (l secretLedger) doubled() []int64 {
	var out []int64
	for rev, seen := range l {
		if len(seen) > 1 {
			out = append(out, rev)
		}
	}
	return out
}

// passcodeFlow is one Passcode flow: setup brings the objects to the flow's start (no faults),
// trigger starts the flow, check judges the end state.
type passcodeFlow struct {
	name     string
	rotation *accessv1alpha1.RotationSpec
	// restarts: the Passcode restarts Deployment "etl" on each new revision; the flow must roll it
	// exactly once for the final revision.
	restarts bool
	trigger  func(t *testing.T, c client.Client, clk *clocktesting.FakeClock)
	revision int64
	phase    accessv1alpha1.PasscodePhase
}

func passcodeFlows() []passcodeFlow {
	patchPC := func(t *testing.T, c client.Client, mutate func(*accessv1alpha1.Passcode)) {
		t.Helper()
		pc := &accessv1alpha1.Passcode{}
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane-api"}, pc); err != nil {
			t.Fatal(err)
		}
		mutate(pc)
		if err := c.Update(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
	}
	automatic := &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: "1h"}
	return []passcodeFlow{
		{name: "grant", revision: 1, phase: accessv1alpha1.PasscodeActive},
		{name: "rotate", rotation: automatic, revision: 2, phase: accessv1alpha1.PasscodeActive,
			trigger: func(_ *testing.T, _ client.Client, clk *clocktesting.FakeClock) { clk.Step(21 * time.Hour) }},
		{name: "reset", revision: 2, phase: accessv1alpha1.PasscodeActive, trigger: func(t *testing.T, c client.Client, _ *clocktesting.FakeClock) {
			patchPC(t, c, func(pc *accessv1alpha1.Passcode) {
				pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:30:00Z"}
			})
		}},
		{name: "repair", revision: 2, phase: accessv1alpha1.PasscodeActive, trigger: func(t *testing.T, c client.Client, _ *clocktesting.FakeClock) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api"}}
			if err := c.Delete(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "reset-restart", restarts: true, revision: 2, phase: accessv1alpha1.PasscodeActive,
			trigger: func(t *testing.T, c client.Client, _ *clocktesting.FakeClock) {
				patchPC(t, c, func(pc *accessv1alpha1.Passcode) {
					pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:30:00Z"}
				})
			}},
		{name: "revoke", revision: 1, phase: accessv1alpha1.PasscodeRevoked, trigger: func(t *testing.T, c client.Client, _ *clocktesting.FakeClock) {
			patchPC(t, c, func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true })
		}},
	}
}

// converge reconciles until the status stops changing, stepping the clock over persisted backoffs
// (never over the Passcode's own deadlines). It returns false if the faulted process "crashed".
func converge(t *testing.T, plan *faultPlan, reconcile func() (ctrl.Result, error), status func() any, backoffWait func() time.Duration,
	clk *clocktesting.FakeClock, observe func()) {
	t.Helper()
	var last string
	for range 30 {
		res, err := reconcile()
		if testing.Verbose() {
			b, _ := json.Marshal(status())
			t.Logf("reconcile: %+v %v\n%s", res, err, b)
		}
		observe()
		if plan != nil && plan.isCrashed() {
			return
		}
		if wait := backoffWait(); wait > 0 {
			clk.Step(wait)
			continue
		}
		b, _ := json.Marshal(status())
		now := string(b)
		if now == last {
			return
		}
		last = now
	}
	t.Fatal("did not converge in 30 reconciles")
}

// eachCrashPoint runs a flow once cleanly to count its API writes, then once per write with that
// write failing and once with the process dying right after it.
func eachCrashPoint(t *testing.T, name string, run func(*testing.T, *faultPlan) int) {
	t.Helper()
	writes := run(t, &faultPlan{})
	if writes == 0 {
		t.Fatalf("%s: the flow made no API write", name)
	}
	for i := 1; i <= writes; i++ {
		t.Run(fmt.Sprintf("%s/write %d fails", name, i), func(t *testing.T) { run(t, &faultPlan{failAt: i}) })
		t.Run(fmt.Sprintf("%s/write %d crashes after", name, i), func(t *testing.T) { run(t, &faultPlan{crashAt: i}) })
	}
}

// during runs the faulted process: the plan applies to its writes only.
func (p *faultPlan) during(process func()) {
	p.mu.Lock()
	p.active = true
	p.mu.Unlock()
	process()
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
}

func TestPasscodeCrashPoints(t *testing.T) {
	for _, flow := range passcodeFlows() {
		eachCrashPoint(t, flow.name, func(t *testing.T, plan *faultPlan) int { return runPasscodeFlow(t, flow, plan) })
	}
}

// runPasscodeFlow runs one flow under plan and checks its end state; it returns the writes made
// in the faulted phase.
func runPasscodeFlow(t *testing.T, flow passcodeFlow, plan *faultPlan) int {
	t.Helper()
	pc0 := testPasscode("30h", flow.rotation)
	objs := []client.Object{testUser(), pc0}
	rollouts := map[string]bool{} // distinct restarted-at values the Deployment held: one each is a rollout
	if flow.restarts {
		pc0.Spec.RolloutRestartTargets = []accessv1alpha1.RolloutRestartTarget{{Kind: "Deployment", Name: "etl"}}
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "etl"}})
	}
	c := faultyClient(t, plan, objs...)
	clk := clocktesting.NewFakeClock(t0)
	newReconciler := func() *PasscodeReconciler {
		return &PasscodeReconciler{Client: c, APIReader: c, Clock: clk, Recorder: events.NewFakeRecorder(1000)}
	}
	key := types.NamespacedName{Namespace: "team", Name: "jane-api"}
	ledger := secretLedger{}
	get := func() *accessv1alpha1.Passcode {
		pc := &accessv1alpha1.Passcode{}
		if err := c.Get(context.Background(), key, pc); err != nil {
			t.Fatal(err)
		}
		return pc
	}
	run := func(r *PasscodeReconciler, p *faultPlan) {
		converge(t, p, func() (ctrl.Result, error) {
			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
			if err != nil || !flow.restarts {
				return res, err
			}
			// The rollout restarts of a new revision: their own reconciler, after the status write.
			restarts := &PasscodeRestartReconciler{Client: r.Client, Clock: r.Clock, Recorder: r.Recorder}
			if _, err := restarts.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
				return res, err
			}
			return res, nil
		},
			func() any { return get().Status }, func() time.Duration {
				if st := get().Status.NextRetryAt; st != nil && clk.Now().Before(st.Time) {
					return st.Sub(clk.Now())
				}
				return 0
			}, clk, func() {
				ledger.observe(t, c, "jane-api")
				if flow.restarts {
					observeRollouts(t, c, rollouts)
				}
			})
	}
	if flow.trigger != nil {
		run(newReconciler(), nil)
		flow.trigger(t, c, clk)
	}
	plan.during(func() { run(newReconciler(), plan) })
	run(newReconciler(), nil) // a new process with empty memory takes over

	pc := get()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), key, s); err != nil {
		t.Fatal(err)
	}
	if pc.Status.Phase != flow.phase || pc.Status.Revision != flow.revision {
		t.Errorf("%s: phase %s revision %d, want %s revision %d", flow.name, pc.Status.Phase, pc.Status.Revision, flow.phase, flow.revision)
	}
	held := string(s.Data[passcodesecret.KeyPasscode])
	if flow.phase == accessv1alpha1.PasscodeActive && !passcode.Matches(held, pc.Status.Hash) {
		t.Errorf("%s: the Secret's passcode does not match status.hash", flow.name)
	}
	if flow.phase != accessv1alpha1.PasscodeActive && held != "" {
		t.Errorf("%s: a %s passcode is still in the Secret", flow.name, flow.phase)
	}
	if rev := passcodesecret.Revision(s); rev != pc.Status.Revision {
		t.Errorf("%s: the Secret says revision %d, status %d", flow.name, rev, pc.Status.Revision)
	}
	if d := ledger.doubled(); len(d) > 0 {
		t.Errorf("%s: revisions %v were issued with more than one passcode", flow.name, d)
	}
	if ready := readyCondition(pc.Status.Conditions); ready == nil || ready.Reason == accessv1alpha1.ReasonRetrying {
		t.Errorf("%s: Ready is %+v after converging", flow.name, ready)
	}
	if pc.Status.Failures != 0 || pc.Status.NextRetryAt != nil {
		t.Errorf("%s: a backoff is left: failures %d", flow.name, pc.Status.Failures)
	}
	if flow.restarts {
		checkRollouts(t, flow.name, pc, rollouts)
	}
	return plan.writes
}

// observeRollouts records the restarted-at value the Deployment holds now.
func observeRollouts(t *testing.T, c client.Client, seen map[string]bool) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "etl"}, d); err != nil {
		t.Fatal(err)
	}
	if v := d.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation]; v != "" {
		seen[v] = true
	}
}

// checkRollouts: the Deployment was rolled once, for the final revision, and status says so.
func checkRollouts(t *testing.T, name string, pc *accessv1alpha1.Passcode, seen map[string]bool) {
	t.Helper()
	want := consumers.Value(pc.Status.IssuedAt.Time, pc.Status.Revision)
	if len(seen) != 1 || !seen[want] {
		t.Errorf("%s: the Deployment held restarted-at values %v, want only %s (one rollout)", name, seen, want)
	}
	if st := pc.Status.RolloutRestart; st == nil || st.Revision != pc.Status.Revision || st.RestartedAt == nil {
		t.Errorf("%s: status.rolloutRestart = %+v, want done for revision %d", name, st, pc.Status.Revision)
	}
}

func readyCondition(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == accessv1alpha1.ConditionReady {
			return &conds[i]
		}
	}
	return nil
}

// recordingNotifier keeps every delivery's link by idempotency key, like a webhook receiver that
// drops repeats.
type recordingNotifier struct {
	mu    sync.Mutex
	links map[string]map[string]int // idempotency key -> link -> deliveries
}

func (n *recordingNotifier) Send(_ context.Context, inv notify.Invite) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.links == nil {
		n.links = map[string]map[string]int{}
	}
	if n.links[inv.IdempotencyKey] == nil {
		n.links[inv.IdempotencyKey] = map[string]int{}
	}
	n.links[inv.IdempotencyKey][inv.AcceptURL]++
	return nil
}

type userFlow struct {
	name    string
	trigger func(t *testing.T, c client.Client)
	phase   accessv1alpha1.UserPhase
	number  int32 // invite numbers (links) the flow ends with
}

func userFlows() []userFlow {
	patchUser := func(t *testing.T, c client.Client, mutate func(*accessv1alpha1.DashboardUser), status bool) {
		t.Helper()
		u := &accessv1alpha1.DashboardUser{}
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "jane"}, u); err != nil {
			t.Fatal(err)
		}
		mutate(u)
		var err error
		if status {
			err = c.Status().Update(context.Background(), u)
		} else {
			err = c.Update(context.Background(), u)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return []userFlow{
		{name: "invite", phase: accessv1alpha1.UserInvited, number: 1},
		{name: "resend", phase: accessv1alpha1.UserInvited, number: 2, trigger: func(t *testing.T, c client.Client) {
			patchUser(t, c, func(u *accessv1alpha1.DashboardUser) {
				u.Annotations = map[string]string{accessv1alpha1.ResendInviteRequestedAtAnnotation: "2026-03-01T10:30:00Z"}
			}, false)
		}},
		{name: "accept", phase: accessv1alpha1.UserActive, number: 1, trigger: func(t *testing.T, c client.Client) {
			patchUser(t, c, func(u *accessv1alpha1.DashboardUser) { u.Status.Invite.AcceptedAt = ptrTime(t0) }, true)
		}},
	}
}

func TestUserCrashPoints(t *testing.T) {
	for _, flow := range userFlows() {
		eachCrashPoint(t, flow.name, func(t *testing.T, plan *faultPlan) int { return runUserFlow(t, flow, plan) })
	}
}

func runUserFlow(t *testing.T, flow userFlow, plan *faultPlan) int {
	t.Helper()
	u := testUser()
	u.UID = "uid-jane"
	c := faultyClient(t, plan, u)
	clk := clocktesting.NewFakeClock(t0)
	notifier := &recordingNotifier{}
	newReconciler := func() *DashboardUserReconciler {
		return &DashboardUserReconciler{Client: c, APIReader: c, Clock: clk, Recorder: events.NewFakeRecorder(1000), Notifier: notifier,
			Batcher: &invite.Batcher{Size: 50, Window: 10 * time.Second}, PublicURL: "https://dash.example.com"}
	}
	key := types.NamespacedName{Namespace: "team", Name: "jane"}
	get := func() *accessv1alpha1.DashboardUser {
		got := &accessv1alpha1.DashboardUser{}
		if err := c.Get(context.Background(), key, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	run := func(r *DashboardUserReconciler, p *faultPlan) {
		converge(t, p, func() (ctrl.Result, error) {
			return r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
		},
			func() any { return get().Status }, func() time.Duration {
				st := get().Status
				next := st.NextRetryAt
				if st.Invite != nil && st.Invite.NextAttemptAt != nil {
					next = st.Invite.NextAttemptAt
				}
				if next != nil && clk.Now().Before(next.Time) {
					return next.Sub(clk.Now())
				}
				return 0
			}, clk, func() {})
	}
	if flow.trigger != nil {
		run(newReconciler(), nil)
		flow.trigger(t, c)
	}
	plan.during(func() { run(newReconciler(), plan) })
	run(newReconciler(), nil) // a new process with empty memory takes over

	got := get()
	inv := got.Status.Invite
	if got.Status.Phase != flow.phase || inv == nil || inv.Number != flow.number {
		t.Fatalf("%s: phase %s invite %+v, want %s with %d links", flow.name, got.Status.Phase, inv, flow.phase, flow.number)
	}
	if len(notifier.links) != int(flow.number) {
		t.Errorf("%s: deliveries under %d idempotency keys, want %d: %v", flow.name, len(notifier.links), flow.number, keysOf(notifier.links))
	}
	for k, links := range notifier.links {
		if len(links) != 1 {
			t.Errorf("%s: idempotency key %s was delivered with %d different links", flow.name, k, len(links))
		}
	}
	last := notifier.links[invite.IdempotencyKey(string(u.UID), flow.number)]
	for link := range last {
		token := link[strings.LastIndex(link, "/")+1:]
		if invite.Hash(token) != inv.TokenHash {
			t.Errorf("%s: the delivered link of invite %d is not the one in status", flow.name, flow.number)
		}
	}
	if got.Status.Failures != 0 || got.Status.NextRetryAt != nil {
		t.Errorf("%s: a backoff is left: failures %d", flow.name, got.Status.Failures)
	}
	return plan.writes
}

func keysOf(m map[string]map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
