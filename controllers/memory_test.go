package controllers

import (
	"context"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func entries(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// TestADeletedPasscodeIsForgotten: the mark of the status this process wrote goes with the
// Passcode, so the map never outgrows the Passcodes there are.
func TestADeletedPasscodeIsForgotten(t *testing.T) {
	r, _, c := newFakeReconciler(t, testUser(), testPasscode("12h", nil))
	_, pc := reconcileOnce(t, r)
	if entries(&r.written) != 1 {
		t.Fatalf("%d marks after an issue, want 1", entries(&r.written))
	}
	if err := c.Delete(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: "jane-api"}}); err != nil {
		t.Fatal(err)
	}
	if n := entries(&r.written); n != 0 {
		t.Fatalf("%d marks after the deletion, want 0", n)
	}
}

// TestADeletedUserIsForgotten: a user whose first invite waited for its Passcodes, then was deleted
// before it was invited, leaves no count behind.
func TestADeletedUserIsForgotten(t *testing.T) {
	u := testUser()
	u.UID = "uid-jane"
	c := faultyClient(t, &faultPlan{}, u)
	r := newUserReconciler(c, clocktesting.NewFakeClock(t0), 5)
	if _, got := reconcileUser(t, r, "jane"); got.Status.Phase == accessv1alpha1.UserInvited {
		t.Fatal("the first look invites: it should wait once for Passcodes")
	}
	if entries(&r.holds) != 1 {
		t.Fatalf("%d holds while the invite waits, want 1", entries(&r.holds))
	}
	if err := c.Delete(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: "jane"}}); err != nil {
		t.Fatal(err)
	}
	if n := entries(&r.holds); n != 0 {
		t.Fatalf("%d holds after the deletion, want 0", n)
	}
}
