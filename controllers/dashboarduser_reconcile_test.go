package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/invite"
)

// The DashboardUser reconciler called directly, on a fake client and a fake clock.

func newUserReconciler(c client.Client, clk *clocktesting.FakeClock, size int) *DashboardUserReconciler {
	return &DashboardUserReconciler{Client: c, APIReader: c, Clock: clk, Recorder: events.NewFakeRecorder(1000), Notifier: &recordingNotifier{},
		Batcher: &invite.Batcher{Size: size, Window: 10 * time.Second}, PublicURL: "https://dash.example.com"}
}

func reconcileUser(t *testing.T, r *DashboardUserReconciler, name string) (ctrl.Result, *accessv1alpha1.DashboardUser) {
	t.Helper()
	key := types.NamespacedName{Namespace: "team", Name: name}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	u := &accessv1alpha1.DashboardUser{}
	if err := r.Get(context.Background(), key, u); err != nil {
		t.Fatal(err)
	}
	return res, u
}

// TestTheBatchLimitHoldsAcrossARestart: attempts recorded in status fill the window for a new
// process whose memory is empty.
func TestTheBatchLimitHoldsAcrossARestart(t *testing.T) {
	objs := make([]client.Object, 0, 3)
	for i := range 3 {
		u := testUser()
		u.Name, u.UID, u.Spec.Email = fmt.Sprint("user-", i), types.UID(fmt.Sprint("uid-", i)), fmt.Sprintf("user-%d@example.com", i)
		objs = append(objs, u)
	}
	c := faultyClient(t, &faultPlan{}, objs...)
	clk := clocktesting.NewFakeClock(t0.Add(2 * time.Second))
	first := newUserReconciler(c, clk, 2)
	for i := range 2 {
		reconcileUser(t, first, fmt.Sprint("user-", i)) // the first look waits once for Passcodes
		if _, u := reconcileUser(t, first, fmt.Sprint("user-", i)); u.Status.Invite == nil || u.Status.Invite.LastAttemptAt == nil {
			t.Fatalf("user-%d: the attempt is recorded with its outcome", i)
		}
	}
	restarted := newUserReconciler(c, clk, 2)
	reconcileUser(t, restarted, "user-2")
	res, u := reconcileUser(t, restarted, "user-2")
	if u.Status.Phase != "" || res.RequeueAfter != 8*time.Second {
		t.Fatalf("a third user in a window of 2 waits for the next window, unwritten: phase %q requeue %v", u.Status.Phase, res.RequeueAfter)
	}
	clk.Step(8 * time.Second)
	if _, u := reconcileUser(t, restarted, "user-2"); u.Status.Invite == nil || u.Status.Invite.Number != 1 {
		t.Fatalf("the next window has room: %+v", u.Status.Invite)
	}
}

// TestQueuedUsersCostNoAPIRequests: 20 new users with room for 5 per window: each queued user is
// reconciled when it queues and when its window opens, and only a user whose turn came costs a
// live read; nothing is written for a user still waiting.
func TestQueuedUsersCostNoAPIRequests(t *testing.T) {
	objs := make([]client.Object, 0, 20)
	for i := range 20 {
		u := testUser()
		u.Name, u.UID, u.Spec.Email = fmt.Sprint("user-", i), types.UID(fmt.Sprint("uid-", i)), fmt.Sprintf("user-%d@example.com", i)
		objs = append(objs, u)
	}
	base := faultyClient(t, &faultPlan{}, objs...)
	liveGets, writes := 0, 0
	apiReader := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if _, ok := o.(*accessv1alpha1.DashboardUser); ok {
				liveGets++
			}
			return c.Get(ctx, key, o, opts...)
		},
	})
	writer := interceptor.NewClient(base, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
	clk := clocktesting.NewFakeClock(t0)
	r := newUserReconciler(writer, clk, 5)
	r.APIReader = apiReader
	for i := range 20 {
		reconcileUser(t, r, fmt.Sprint("user-", i)) // the first look waits once for Passcodes: no request
	}
	if liveGets != 0 || writes != 0 {
		t.Fatalf("the first look cost %d live reads and %d writes", liveGets, writes)
	}
	wake := map[string]time.Duration{}
	for i := range 20 {
		res, u := reconcileUser(t, r, fmt.Sprint("user-", i))
		if u.Status.Phase == "" {
			wake[fmt.Sprint("user-", i)] = res.RequeueAfter
		}
	}
	if len(wake) != 15 || liveGets != 5 || writes != 5 {
		t.Fatalf("first pass: %d queued, %d live reads, %d writes; want 15, 5, 5", len(wake), liveGets, writes)
	}
	for w := 1; w <= 3; w++ {
		clk.Step(10 * time.Second)
		for name, after := range wake {
			if after <= time.Duration(w)*10*time.Second {
				if _, u := reconcileUser(t, r, name); u.Status.Phase != accessv1alpha1.UserInvited {
					t.Fatalf("%s: its window opened and it is %q", name, u.Status.Phase)
				}
				delete(wake, name)
			}
		}
	}
	if len(wake) != 0 || liveGets != 20 || writes != 20 {
		t.Fatalf("after 3 more windows: %d still queued, %d live reads, %d writes; want 0, 20, 20", len(wake), liveGets, writes)
	}
}

// TestTheInviteWaitsForTheUsersPasscodes: a new user's first invite waits (unwritten) while its
// Passcode has not been issued, and once for Passcodes applied with it to appear, so the one status
// write that records the invite also shows the Passcode column.
func TestTheInviteWaitsForTheUsersPasscodes(t *testing.T) {
	u := testUser()
	u.UID = "uid-jane"
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", Generation: 1},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "30d"}}
	c := faultyClient(t, &faultPlan{}, u, pc)
	clk := clocktesting.NewFakeClock(t0)
	r := newUserReconciler(c, clk, 50)
	for range 3 {
		if res, got := reconcileUser(t, r, "jane"); got.Status.Phase != "" || res.RequeueAfter != inviteHoldWait {
			t.Fatalf("waiting for the Passcode: phase %q requeue %v", got.Status.Phase, res.RequeueAfter)
		}
	}
	pc.Status = accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, ObservedGeneration: 1, Revision: 1,
		ExpiresAt: mt(t0.Add(30 * 24 * time.Hour))}
	if err := c.Status().Update(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	if _, got := reconcileUser(t, r, "jane"); got.Status.Phase != accessv1alpha1.UserInvited ||
		got.Status.PasscodeStatus != accessv1alpha1.PasscodeSummaryActive {
		t.Fatalf("issued: phase %q passcode %q", got.Status.Phase, got.Status.PasscodeStatus)
	}

	// No Passcode in sight: one wait for one to appear, then the invite goes out.
	kim := testUser()
	kim.Name, kim.UID = "kim", "uid-kim"
	c = faultyClient(t, &faultPlan{}, kim)
	r = newUserReconciler(c, clk, 50)
	if _, got := reconcileUser(t, r, "kim"); got.Status.Phase != "" {
		t.Fatalf("a first look waits once: phase %q", got.Status.Phase)
	}
	if _, got := reconcileUser(t, r, "kim"); got.Status.Phase != accessv1alpha1.UserInvited {
		t.Fatalf("then the invite goes out: phase %q", got.Status.Phase)
	}

	// A Passcode that never settles holds the invite back maxInviteHolds times at most.
	lee := testUser()
	lee.Name, lee.UID = "lee", "uid-lee"
	stuck := pc.DeepCopy()
	stuck.Name, stuck.ResourceVersion, stuck.Spec.UserRef.Name, stuck.Status = "lee-api", "", "lee", accessv1alpha1.PasscodeStatus{}
	c = faultyClient(t, &faultPlan{}, lee, stuck)
	r = newUserReconciler(c, clk, 50)
	for range maxInviteHolds {
		reconcileUser(t, r, "lee")
	}
	if _, got := reconcileUser(t, r, "lee"); got.Status.Phase != accessv1alpha1.UserInvited {
		t.Fatalf("after %d holds the invite goes out: phase %q", maxInviteHolds, got.Status.Phase)
	}
}

// TestAFailedReadIsRetriedWithAPersistedBackoff: a failed List is no silent requeue: it is
// recorded with its reason, backs off, and a later success clears it and moves observedGeneration.
func TestAFailedReadIsRetriedWithAPersistedBackoff(t *testing.T) {
	failing := true
	u := testUser()
	u.UID, u.Generation = "uid-jane", 1
	base := faultyClient(t, &faultPlan{}, u)
	c := interceptor.NewClient(base, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*accessv1alpha1.PasscodeList); ok && failing {
				return apierrors.NewServiceUnavailable("etcd is down")
			}
			return c.List(ctx, list, opts...)
		},
	})
	clk := clocktesting.NewFakeClock(t0)
	r := newUserReconciler(c, clk, 50)
	var res ctrl.Result
	for want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		clk.Step(res.RequeueAfter)
		res, u = reconcileUser(t, r, "jane")
		if res.RequeueAfter != time.Second<<want || u.Status.Failures != int32(want+1) || u.Status.NextRetryAt == nil {
			t.Fatalf("failure %d: requeue %v failures %d", want+1, res.RequeueAfter, u.Status.Failures)
		}
	}
	ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready == nil || ready.Reason != accessv1alpha1.ReasonRetrying || u.Status.ObservedGeneration == u.Generation {
		t.Fatalf("Ready %+v observedGeneration %d", ready, u.Status.ObservedGeneration)
	}
	if res, _ := reconcileUser(t, r, "jane"); res.RequeueAfter <= 0 || res.RequeueAfter > 4*time.Second {
		t.Fatalf("the backoff holds until nextRetryAt: %v", res.RequeueAfter)
	}
	failing = false
	clk.Step(4 * time.Second)
	_, u = reconcileUser(t, r, "jane")
	if u.Status.Failures != 0 || u.Status.NextRetryAt != nil || u.Status.ObservedGeneration != u.Generation || u.Status.Invite == nil {
		t.Fatalf("success clears the backoff: %+v", u.Status)
	}
}

// TestOneStatusWritePerInvite: delivering an invite is one reconcile with one status write, and a
// reconcile with nothing new writes nothing.
func TestOneStatusWritePerInvite(t *testing.T) {
	u := testUser()
	u.UID = "uid-jane"
	writes := 0
	base := faultyClient(t, &faultPlan{}, u)
	c := interceptor.NewClient(base, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
	r := newUserReconciler(c, clocktesting.NewFakeClock(t0), 50)
	for step, want := range []struct {
		phase  accessv1alpha1.UserPhase
		writes int
	}{{"", 0}, {accessv1alpha1.UserInvited, 1}, {accessv1alpha1.UserInvited, 0}} {
		writes = 0
		_, got := reconcileUser(t, r, "jane")
		if got.Status.Phase != want.phase || writes != want.writes {
			t.Fatalf("reconcile %d: phase %q with %d status writes, want %q with %d", step+1, got.Status.Phase, writes, want.phase, want.writes)
		}
	}
}
