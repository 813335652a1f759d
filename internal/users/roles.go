package users

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
)

// Counted reports whether u counts among the users of the role it names: it does unless it is
// being deleted. Such a user has already lost its access (the access server refuses the passcodes
// of a user being deleted), so deleting its role hurts nobody through it, and a user held by a
// stuck finalizer must not keep a role "in use" forever. The role's status.users (the USERS
// column), `roles delete`'s refusal and SCIM's group members all count this way.
func Counted(u *accessv1alpha1.DashboardUser) bool {
	return u.DeletionTimestamp.IsZero()
}

// UsesRole reports whether u is a user of role: it names role in spec.role and is Counted.
func UsesRole(u *accessv1alpha1.DashboardUser, role string) bool {
	return string(u.Spec.Role) == role && Counted(u)
}

// OfRole returns the users of role among list, in list order.
func OfRole(list []accessv1alpha1.DashboardUser, role string) []accessv1alpha1.DashboardUser {
	var out []accessv1alpha1.DashboardUser
	for i := range list {
		if UsesRole(&list[i], role) {
			out = append(out, list[i])
		}
	}
	return out
}

// CountOfRole is len(OfRole(list, role)), without the copies.
func CountOfRole(list []accessv1alpha1.DashboardUser, role string) int {
	n := 0
	for i := range list {
		if UsesRole(&list[i], role) {
			n++
		}
	}
	return n
}

// CustomRole returns the DashboardRole that role names, or "" for a system role (which always
// exists and has no object).
func CustomRole(role string) string {
	if roles.IsSystem(role) {
		return ""
	}
	return role
}

// GetRole reads the DashboardRole key (the caller's client: a cache or the API server), returning
// the read's error as is (NotFound when there is none).
type GetRole func(ctx context.Context, key types.NamespacedName) error

// RoleExists says whether role can be held by users of namespace ns now: a system role always can,
// a custom one when its DashboardRole exists there. It returns nil, a *MissingRoleError, or get's
// error when the read failed (the caller knows how to report its client's errors). The API accepts
// a user naming a missing role (GitOps may create it later): only readiness and permissions wait.
func RoleExists(ctx context.Context, get GetRole, ns, role string) error {
	name := CustomRole(role)
	if name == "" {
		return nil
	}
	err := get(ctx, types.NamespacedName{Namespace: ns, Name: name})
	if apierrors.IsNotFound(err) {
		return &MissingRoleError{Role: name, Namespace: ns}
	}
	return err
}

// MissingRoleError is a custom role with no DashboardRole in the namespace (yet).
type MissingRoleError struct {
	Role, Namespace string
}

// Error is the one message for a missing role, with the two ways out: the user's Ready condition,
// the plugin, the users page and SCIM say the same.
func (e *MissingRoleError) Error() string {
	return fmt.Sprintf("role %q does not exist: create the DashboardRole %q in namespace %q or use a system role (%s)",
		e.Role, e.Role, e.Namespace, roles.SystemPhrase())
}
