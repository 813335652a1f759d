package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
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
		if _, u := reconcileUser(t, first, fmt.Sprint("user-", i)); u.Status.Invite == nil || u.Status.Invite.LastAttemptAt == nil {
			t.Fatalf("user-%d: the attempt is recorded before anything is sent", i)
		}
	}
	restarted := newUserReconciler(c, clk, 2)
	res, u := reconcileUser(t, restarted, "user-2")
	ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready == nil || ready.Reason != accessv1alpha1.ReasonQueued || res.RequeueAfter != 8*time.Second {
		t.Fatalf("a third user in a window of 2 waits for the next window: %+v requeue %v", ready, res.RequeueAfter)
	}
	clk.Step(8 * time.Second)
	if _, u := reconcileUser(t, restarted, "user-2"); u.Status.Invite == nil || u.Status.Invite.Number != 1 {
		t.Fatalf("the next window has room: %+v", u.Status.Invite)
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

// TestOneStatusWritePerReconcile: preparing and sending an invite are two reconciles with one
// status write each.
func TestOneStatusWritePerReconcile(t *testing.T) {
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
	for step, phase := range []accessv1alpha1.UserPhase{accessv1alpha1.UserPending, accessv1alpha1.UserInvited, accessv1alpha1.UserInvited} {
		writes = 0
		_, got := reconcileUser(t, r, "jane")
		want := 1
		if step == 2 {
			want = 0 // nothing changed: no write
		}
		if got.Status.Phase != phase || writes != want {
			t.Fatalf("reconcile %d: phase %s with %d status writes, want %s with %d", step+1, got.Status.Phase, writes, phase, want)
		}
	}
}
