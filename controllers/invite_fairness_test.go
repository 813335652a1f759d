package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/invite"
)

// TestAFloodInOneProjectDoesNotDelayAnother: the DashboardUser reconciler (fake client and clock)
// with 5 invites per project and 5 in all per window. Project "flood" gets 200 new users; a single
// user of project "quiet" created after them is invited in the next window, while the flood goes
// on at the pace left to it. With one pacer for the whole cluster it waited 40 windows.
func TestAFloodInOneProjectDoesNotDelayAnother(t *testing.T) {
	objs := make([]client.Object, 0, 201)
	for i := range 200 {
		u := testUser()
		u.Namespace, u.Name, u.UID, u.Spec.Email = "flood", fmt.Sprint("user-", i), types.UID(fmt.Sprint("flood-", i)), fmt.Sprintf("user-%d@example.com", i)
		objs = append(objs, u)
	}
	quiet := testUser()
	quiet.Namespace, quiet.UID = "quiet", "quiet-jane"
	objs = append(objs, quiet)
	clk := clocktesting.NewFakeClock(t0)
	r := newUserReconciler(faultyClient(t, &faultPlan{}, objs...), clk, 5)
	r.Batcher = &invite.Batcher{Size: 5, Global: 5, Window: 10 * time.Second}
	look := func(ns, name string) (time.Duration, accessv1alpha1.UserPhase) {
		t.Helper()
		key := types.NamespacedName{Namespace: ns, Name: name}
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
		if err != nil {
			t.Fatalf("Reconcile %s: %v", key, err)
		}
		u := &accessv1alpha1.DashboardUser{}
		if err := r.Get(context.Background(), key, u); err != nil {
			t.Fatal(err)
		}
		return res.RequeueAfter, u.Status.Phase
	}
	wake := map[string]time.Duration{}
	for pass := range 2 { // the first look waits once for Passcodes
		for i := range 200 {
			if after, phase := look("flood", fmt.Sprint("user-", i)); pass == 1 && phase == "" {
				wake[fmt.Sprint("user-", i)] = after
			}
		}
	}
	if len(wake) != 195 {
		t.Fatalf("%d flood users queued, want 195 (5 invited in the first window)", len(wake))
	}
	look("quiet", "jane")
	after, phase := look("quiet", "jane")
	t.Logf("the quiet project's invite waits %s behind a flood of 200 (window 10s)", after)
	if phase != "" && phase != accessv1alpha1.UserInvited {
		t.Fatalf("quiet/jane is %q", phase)
	}
	if phase == "" && after > 10*time.Second {
		t.Fatalf("quiet/jane waits %s, more than one window", after)
	}
	clk.Step(10 * time.Second)
	if _, phase := look("quiet", "jane"); phase != accessv1alpha1.UserInvited {
		t.Fatalf("quiet/jane is %q in the next window, want Invited", phase)
	}
	invited := 0
	for name, after := range wake {
		if after <= 10*time.Second {
			if _, phase := look("flood", name); phase == accessv1alpha1.UserInvited {
				invited++
			}
		}
	}
	if invited != 4 {
		t.Fatalf("%d flood users invited in the second window, want 4: the global 5 less quiet/jane's", invited)
	}
}
