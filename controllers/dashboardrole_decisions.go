package controllers

import (
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/users"
)

// Pure decisions of the DashboardRole reconciler, and of the DashboardUser reconciler about a
// user's role: functions of the objects and "now", table-tested without an API server.

// countUsers counts the users of a role among those that name it (users.Counted: one meaning for
// the USERS column, `roles delete` and SCIM).
func countUsers(list []accessv1alpha1.DashboardUser) int32 {
	var n int32
	for i := range list {
		if users.Counted(&list[i]) {
			n++
		}
	}
	return n
}

// usersPhrase is "no users", "1 user", "3 users".
func usersPhrase(n int32) string {
	switch n {
	case 0:
		return "no users"
	case 1:
		return "1 user"
	}
	return fmt.Sprintf("%d users", n)
}

// setRoleStatus records what a reconcile of a role observed: how many users name it, and Ready.
// A role has nothing to wait for (its permissions are checked by the API), so it is Ready once
// seen; the message is the count, so `kubectl describe` answers "who would a deletion hurt".
func setRoleStatus(role *accessv1alpha1.DashboardRole, now time.Time, n int32) {
	st := &role.Status
	st.Users = n
	st.ObservedGeneration = role.Generation
	setCondition(&st.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonRoleAvailable,
		"used by "+usersPhrase(n), role.Generation, now)
	apimeta.RemoveStatusCondition(&st.Conditions, accessv1alpha1.ConditionReconciling)
	apimeta.RemoveStatusCondition(&st.Conditions, accessv1alpha1.ConditionStalled)
}

// deletedInUseMessage is the Warning Event on a role deleted while users still name it, or "" when
// none does (nothing to warn about).
func deletedInUseMessage(n int32) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "Deleted while 1 user still names it: it loses the role's permissions and is not Ready until it gets another role"
	}
	return fmt.Sprintf("Deleted while %d users still name it: they lose its permissions and are not Ready until they get another role", n)
}

// customRole returns the DashboardRole a user's spec.role names, or "" for a system role.
func customRole(u *accessv1alpha1.DashboardUser) string { return users.CustomRole(string(u.Spec.Role)) }

// roleNotFoundMessage says which role a user misses, and the two ways out (the plugin, the users
// page and SCIM say the same).
func roleNotFoundMessage(namespace, role string) string {
	return (&users.MissingRoleError{Role: role, Namespace: namespace}).Error()
}
