package controllers

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
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
)

// The DashboardRole reconciler called directly, on a fake client and a fake clock.

func roleClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&accessv1alpha1.DashboardRole{}, &accessv1alpha1.DashboardUser{}).
		WithIndex(&accessv1alpha1.DashboardUser{}, RoleIndex, RoleIndexFunc).Build()
}

func testRole(name string) *accessv1alpha1.DashboardRole {
	return &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, Generation: 1},
		Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}}
}

func userWithRole(name string, role accessv1alpha1.Role) *accessv1alpha1.DashboardUser {
	u := testUser()
	u.Name, u.Spec.Email, u.Spec.Role = name, name+"@example.com", role
	return u
}

func reconcileRole(t *testing.T, r *DashboardRoleReconciler, name string) *accessv1alpha1.DashboardRole {
	t.Helper()
	key := types.NamespacedName{Namespace: "team", Name: name}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	role := &accessv1alpha1.DashboardRole{}
	if err := r.Get(context.Background(), key, role); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return role
}

// TestARoleCountsItsUsersAndIdlesWithoutWrites: a new role gets a status that counts the users
// naming it (and no finalizer) (not users of other roles or namespaces, not system roles); a
// reconcile with nothing new writes nothing.
func TestARoleCountsItsUsersAndIdlesWithoutWrites(t *testing.T) {
	other := userWithRole("eve", "analyst")
	other.Namespace = "elsewhere"
	c := roleClient(t, testRole("analyst"), userWithRole("ada", "analyst"), userWithRole("bo", "analyst"),
		userWithRole("cy", "auditor"), userWithRole("di", accessv1alpha1.RoleAdmin), other)
	var w writeCounter
	r := &DashboardRoleReconciler{Client: w.wrap(c), Clock: clocktesting.NewFakeClock(t0), Recorder: events.NewFakeRecorder(10)}
	role := reconcileRole(t, r, "analyst")
	ready := apimeta.FindStatusCondition(role.Status.Conditions, accessv1alpha1.ConditionReady)
	if role.Status.Users != 2 || role.Status.ObservedGeneration != 1 || ready == nil || ready.Status != metav1.ConditionTrue ||
		ready.Message != "used by 2 users" {
		t.Fatalf("status %+v", role.Status)
	}
	if len(role.Finalizers) != 0 {
		t.Fatalf("finalizers %q", role.Finalizers)
	}
	want := map[string]int{"patch v1alpha1.DashboardRole/status": 1}
	if fmt.Sprint(w.calls) != fmt.Sprint(want) {
		t.Fatalf("writes %v, want %v", w.calls, want)
	}
	reconcileRole(t, r, "analyst")
	if fmt.Sprint(w.calls) != fmt.Sprint(want) {
		t.Fatalf("a reconcile with nothing new wrote: %v", w.calls)
	}

	// A role edit elsewhere in the user: the count follows, in one status write.
	ada := &accessv1alpha1.DashboardUser{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "ada"}, ada); err != nil {
		t.Fatal(err)
	}
	ada.Spec.Role = "auditor"
	if err := c.Update(context.Background(), ada); err != nil {
		t.Fatal(err)
	}
	if role = reconcileRole(t, r, "analyst"); role.Status.Users != 1 || w.calls["patch v1alpha1.DashboardRole/status"] != 2 {
		t.Fatalf("after a role edit: %d users, writes %v", role.Status.Users, w.calls)
	}
}

// TestAnEarlierReleasesFinalizerIsTakenOff: a role an earlier release put its finalizer on loses
// it at the first reconcile after the upgrade (and gets its status in the same reconcile), so an
// uninstall never waits for the manager.
func TestAnEarlierReleasesFinalizerIsTakenOff(t *testing.T) {
	old := testRole("analyst")
	old.Finalizers = []string{legacyRoleFinalizer, "example.com/keep"}
	c := roleClient(t, old, userWithRole("ada", "analyst"))
	r := &DashboardRoleReconciler{Client: c, Clock: clocktesting.NewFakeClock(t0), Recorder: events.NewFakeRecorder(10)}
	role := reconcileRole(t, r, "analyst")
	if fmt.Sprint(role.Finalizers) != "[example.com/keep]" || role.Status.Users != 1 {
		t.Fatalf("finalizers %q (want only someone else's), users %d", role.Finalizers, role.Status.Users)
	}
}

// deletedRole is a role the API server marked deleted, held by an earlier release's finalizer.
func deletedRole(name string) *accessv1alpha1.DashboardRole {
	role := testRole(name)
	role.Finalizers = []string{legacyRoleFinalizer}
	role.DeletionTimestamp = &metav1.Time{Time: t0}
	return role
}

// TestDeletingARoleInUseWarnsAndNeverBlocks: a role deleted while an earlier release's finalizer
// held it: the Warning Event says how many users still name it, and the finalizer goes at once; a role nobody names goes without a warning.
func TestDeletingARoleInUseWarnsAndNeverBlocks(t *testing.T) {
	c := roleClient(t, deletedRole("analyst"), deletedRole("unused"), userWithRole("ada", "analyst"), userWithRole("bo", "analyst"),
		userWithRole("cy", "analyst"))
	recorder := events.NewFakeRecorder(10)
	r := &DashboardRoleReconciler{Client: c, Clock: clocktesting.NewFakeClock(t0), Recorder: recorder}
	if role := reconcileRole(t, r, "analyst"); role != nil {
		t.Fatalf("the role is still there: %+v", role.ObjectMeta)
	}
	want := "Warning DeletedInUse Deleted while 3 users still name it: they lose its permissions and are not Ready until they get another role"
	if got := <-recorder.Events; got != want {
		t.Fatalf("Event %q, want %q", got, want)
	}
	if role := reconcileRole(t, r, "unused"); role != nil || len(recorder.Events) != 0 {
		t.Fatalf("an unused role: still there %v, %d Events", role != nil, len(recorder.Events))
	}
}

// TestACrashBeforeTheFinalizerGoesLosesNoWarning: when removing the finalizer fails (or the process
// dies first), the next reconcile warns again and lets the role go: the warning is never lost.
func TestACrashBeforeTheFinalizerGoesLosesNoWarning(t *testing.T) {
	base := roleClient(t, deletedRole("analyst"), userWithRole("ada", "analyst"))
	fail := true
	c := interceptor.NewClient(base, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			if fail {
				fail = false
				return apierrors.NewServiceUnavailable("etcd is down")
			}
			return c.Patch(ctx, o, p, opts...)
		},
	})
	recorder := events.NewFakeRecorder(10)
	r := &DashboardRoleReconciler{Client: c, Clock: clocktesting.NewFakeClock(t0), Recorder: recorder}
	key := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: "analyst"}}
	if _, err := r.Reconcile(context.Background(), key); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("a failed finalizer removal is retried: %v", err)
	}
	if len(recorder.Events) != 1 {
		t.Fatalf("%d Events before the failed removal, want 1", len(recorder.Events))
	}
	<-recorder.Events
	if role := reconcileRole(t, r, "analyst"); role != nil || len(recorder.Events) != 1 {
		t.Fatalf("the retry: still there %v, %d Events (want the warning again)", role != nil, len(recorder.Events))
	}
}

// TestAUserWithAMissingRoleIsInvitedButNotReady: the invite goes out (users and roles are applied in
// any order), Ready is False with RoleNotFound naming the role and namespace, and once the role
// exists the user is Ready without any edit.
func TestAUserWithAMissingRoleIsInvitedButNotReady(t *testing.T) {
	u := userWithRole("ada", "data-analyst")
	u.UID = "uid-ada"
	c := faultyClient(t, &faultPlan{}, u)
	notifier := &recordingNotifier{}
	r := newUserReconciler(c, clocktesting.NewFakeClock(t0), 5)
	r.Notifier = notifier
	reconcileUser(t, r, "ada") // the first look waits once for Passcodes
	_, got := reconcileUser(t, r, "ada")
	if got.Status.Phase != accessv1alpha1.UserInvited || len(notifier.links) != 1 {
		t.Fatalf("phase %q after %d deliveries: a missing role holds no invite back", got.Status.Phase, len(notifier.links))
	}
	ready := apimeta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionReady)
	want := `role "data-analyst" does not exist: create the DashboardRole "data-analyst" in namespace "team" or use a system role`
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != accessv1alpha1.ReasonRoleNotFound || len(ready.Message) < len(want) ||
		ready.Message[:len(want)] != want {
		t.Fatalf("Ready %+v", ready)
	}
	if !apimeta.IsStatusConditionTrue(got.Status.Conditions, accessv1alpha1.ConditionReconciling) {
		t.Fatalf("waiting for the role is Reconciling: %+v", got.Status.Conditions)
	}

	if err := c.Create(context.Background(), testRole("data-analyst")); err != nil {
		t.Fatal(err)
	}
	_, got = reconcileUser(t, r, "ada")
	if s := condString(got.Status.Conditions, accessv1alpha1.ConditionReady); s != "True/Invited" ||
		apimeta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionReconciling) != nil {
		t.Fatalf("the role exists: %+v", got.Status.Conditions)
	}
	if len(notifier.links) != 1 {
		t.Fatal("the role's creation sent a second invite")
	}
}
