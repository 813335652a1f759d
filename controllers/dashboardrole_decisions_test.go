package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestCountUsersLeavesOutUsersBeingDeleted(t *testing.T) {
	deleting := metav1.NewTime(t0)
	users := []accessv1alpha1.DashboardUser{{}, {}, {ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting}}}
	if n := countUsers(users); n != 2 {
		t.Fatalf("countUsers = %d, want 2", n)
	}
	if n := countUsers(nil); n != 0 {
		t.Fatalf("countUsers(nil) = %d", n)
	}
}

func TestSetRoleStatus(t *testing.T) {
	role := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	role.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "x"}}
	for _, c := range []struct {
		users int32
		msg   string
	}{{0, "used by no users"}, {1, "used by 1 user"}, {3, "used by 3 users"}} {
		setRoleStatus(role, t0.Add(time.Duration(c.users)*time.Hour), c.users)
		ready := apimeta.FindStatusCondition(role.Status.Conditions, accessv1alpha1.ConditionReady)
		if role.Status.Users != c.users || role.Status.ObservedGeneration != 3 || ready == nil ||
			ready.Status != metav1.ConditionTrue || ready.Reason != accessv1alpha1.ReasonRoleAvailable || ready.Message != c.msg ||
			ready.ObservedGeneration != 3 {
			t.Fatalf("%d users: %+v", c.users, role.Status)
		}
		if !ready.LastTransitionTime.Time.Equal(t0) {
			t.Fatalf("a new count is no transition: Ready moved to %s", ready.LastTransitionTime)
		}
		if len(role.Status.Conditions) != 1 {
			t.Fatalf("only Ready is left: %+v", role.Status.Conditions)
		}
	}
}

func TestDeletedInUseMessage(t *testing.T) {
	if m := deletedInUseMessage(0); m != "" {
		t.Fatalf("a role nobody names is deleted without a warning, got %q", m)
	}
	if m := deletedInUseMessage(1); !strings.Contains(m, "1 user still names it") {
		t.Fatalf("one user: %q", m)
	}
	want := "Deleted while 3 users still name it: they lose its permissions and are not Ready until they get another role"
	if m := deletedInUseMessage(3); m != want {
		t.Fatalf("got %q, want %q", m, want)
	}
}

func TestRoleIndexNamesCustomRolesOnly(t *testing.T) {
	for role, want := range map[accessv1alpha1.Role]string{"Admin": "", "Member": "", "data-analyst": "data-analyst"} {
		u := &accessv1alpha1.DashboardUser{Spec: accessv1alpha1.DashboardUserSpec{Role: role}}
		got := RoleIndexFunc(u)
		if (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
			t.Errorf("%s: index %q, want %q", role, got, want)
		}
		if customRole(u) != want {
			t.Errorf("%s: customRole %q, want %q", role, customRole(u), want)
		}
	}
	if RoleIndexFunc(&accessv1alpha1.Passcode{}) != nil {
		t.Error("only users are indexed")
	}
}

func roleUser() *accessv1alpha1.DashboardUser {
	return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "ada", Generation: 1},
		Spec: accessv1alpha1.DashboardUserSpec{Role: "data-analyst", Access: accessv1alpha1.AccessGranted}}
}

func TestSetUserConditionsWithAMissingRole(t *testing.T) {
	want := `role "data-analyst" does not exist: create the DashboardRole "data-analyst" in namespace "team-a" or use a system role`
	cases := []struct {
		name                        string
		access                      accessv1alpha1.Access
		reason, msg                 string
		ready                       metav1.ConditionStatus
		wantReady, wantReconciling  string
		wantReadyMsgHasRoleNotFound bool
	}{
		{"invited: not Ready, waiting for the role", accessv1alpha1.AccessGranted, accessv1alpha1.ReasonInvited, "sent", metav1.ConditionTrue,
			"False/RoleNotFound", "True/RoleNotFound", true},
		{"accepted", accessv1alpha1.AccessGranted, accessv1alpha1.ReasonAccepted, "accepted", metav1.ConditionTrue,
			"False/RoleNotFound", "True/RoleNotFound", true},
		{"queued invite keeps its progress", accessv1alpha1.AccessGranted, accessv1alpha1.ReasonQueued, "waiting", metav1.ConditionFalse,
			"False/RoleNotFound", "True/Queued", true},
		{"expired invite", accessv1alpha1.AccessGranted, accessv1alpha1.ReasonInviteExpired, "expired", metav1.ConditionFalse,
			"False/RoleNotFound", "True/RoleNotFound", true},
		{"revoked: settled whatever the role", accessv1alpha1.AccessRevoked, accessv1alpha1.ReasonAccessRevoked, "revoked", metav1.ConditionTrue,
			"True/AccessRevoked", "", false},
	}
	for _, c := range cases {
		u := roleUser()
		u.Spec.Access = c.access
		setUserConditions(u, t0, c.ready, c.reason, c.msg, "data-analyst")
		if got := condString(u.Status.Conditions, accessv1alpha1.ConditionReady); got != c.wantReady {
			t.Errorf("%s: Ready %s, want %s", c.name, got, c.wantReady)
		}
		if got := condString(u.Status.Conditions, accessv1alpha1.ConditionReconciling); got != c.wantReconciling {
			t.Errorf("%s: Reconciling %s, want %s", c.name, got, c.wantReconciling)
		}
		ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
		if c.wantReadyMsgHasRoleNotFound && !strings.HasPrefix(ready.Message, want) {
			t.Errorf("%s: Ready message %q, want it to start with %q", c.name, ready.Message, want)
		}
		if apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionStalled) != nil {
			t.Errorf("%s: a missing role is a wait, never Stalled", c.name)
		}
	}
}

// TestTheRoleComingBackRestoresAFailedInvitesMessage: while a failed delivery waits for its retry
// (reason InviteFailed with no message: keep the failure's), Ready said RoleNotFound; once the role
// exists Ready says why the delivery failed again.
func TestTheRoleComingBackRestoresAFailedInvitesMessage(t *testing.T) {
	u := roleUser()
	setUserConditions(u, t0, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed, "smtp: 451", "data-analyst")
	setUserConditions(u, t0, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed, "", "data-analyst")
	if got := condString(u.Status.Conditions, accessv1alpha1.ConditionReady); got != "False/RoleNotFound" {
		t.Fatalf("role still missing: Ready %s", got)
	}
	if got := condString(u.Status.Conditions, accessv1alpha1.ConditionReconciling); got != "True/InviteFailed" {
		t.Fatalf("the failing invite is still in progress: Reconciling %s", got)
	}
	setUserConditions(u, t0, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed, "", "") // the role is back
	ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready.Reason != accessv1alpha1.ReasonInviteFailed || ready.Message != "smtp: 451" {
		t.Fatalf("Ready after the role came back: %+v", ready)
	}
}

func condString(conds []metav1.Condition, typ string) string {
	c := apimeta.FindStatusCondition(conds, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// TestAMissingRoleIsNoTransitionOnEveryReconcile: reconciling a user whose role is still missing
// later changes nothing in its conditions (a transition time moving on every reconcile would be a
// status write each time, and each write a new reconcile).
func TestAMissingRoleIsNoTransitionOnEveryReconcile(t *testing.T) {
	for _, reason := range []string{accessv1alpha1.ReasonInvited, accessv1alpha1.ReasonAccepted, accessv1alpha1.ReasonInviteExpired, accessv1alpha1.ReasonQueued} {
		u := roleUser()
		ready := metav1.ConditionTrue
		if reason == accessv1alpha1.ReasonInviteExpired || reason == accessv1alpha1.ReasonQueued {
			ready = metav1.ConditionFalse
		}
		setUserConditions(u, t0, ready, reason, "msg", "data-analyst")
		first := u.Status.DeepCopy()
		setUserConditions(u, t0.Add(time.Hour), ready, reason, "msg", "data-analyst")
		if !equality.Semantic.DeepEqual(first.Conditions, u.Status.Conditions) {
			t.Errorf("%s: a second reconcile an hour later changed the conditions:\n%+v\n%+v", reason, first.Conditions, u.Status.Conditions)
		}
	}
}
