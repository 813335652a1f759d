package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/users"
)

// UserRefIndex indexes Passcodes by spec.userRef.name, so a change to a user finds its Passcodes.
// internal/setup registers it with the other cache indexes.
const UserRefIndex = ".spec.userRef.name"

// UserRefIndexFunc extracts UserRefIndex's key from a Passcode.
func UserRefIndexFunc(o client.Object) []string {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok {
		return nil
	}
	return []string{pc.Spec.UserRef.Name}
}

// SecretCopiesIndex indexes Passcodes by the namespaces of spec.secretCopies, so a namespace whose
// consent changed finds the Passcodes that want copies there. internal/setup registers it.
const SecretCopiesIndex = ".spec.secretCopies.namespace"

// SecretCopiesIndexFunc extracts SecretCopiesIndex's keys from a Passcode.
func SecretCopiesIndexFunc(o client.Object) []string {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(pc.Spec.SecretCopies))
	for _, c := range pc.Spec.SecretCopies {
		out = append(out, c.Namespace)
	}
	return out
}

// RoleIndex indexes DashboardUsers by spec.role, so a DashboardRole finds the users that name it
// (to count them, and to wake them when it appears or goes). internal/setup registers it.
const RoleIndex = ".spec.role"

// RoleIndexFunc extracts RoleIndex's key from a DashboardUser. System roles are left out: no
// DashboardRole can take their names, so nothing ever looks them up.
func RoleIndexFunc(o client.Object) []string {
	u, ok := o.(*accessv1alpha1.DashboardUser)
	if !ok || users.CustomRole(string(u.Spec.Role)) == "" {
		return nil
	}
	return []string{string(u.Spec.Role)}
}
