package plugin

import (
	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// The validation of invites lives in internal/ops, shared with the users page; these are its
// names as the plugin has always exported them.

// MaxInvites is the dashboard's limit of users invited in one call.
const MaxInvites = ops.MaxInvites

// Roles are the dashboard's system roles, in the order the help lists them.
var Roles = ops.Roles

// Invitee is one user to invite.
type Invitee = ops.Invitee

// InviteProblems is every reason an invite call is refused.
type InviteProblems = ops.InviteProblems

// ValidateEmail applies the CRD's rules for spec.email (see ops.ValidateEmail).
func ValidateEmail(email string) error { return ops.ValidateEmail(email) }

// ParseRole returns the role named s exactly (see ops.ParseRole).
func ParseRole(s string) (accessv1alpha1.Role, error) { return ops.ParseRole(s) }

// ObjectNameForEmail derives a DashboardUser's object name from its email (see ops.ObjectNameForEmail).
func ObjectNameForEmail(email string) string { return ops.ObjectNameForEmail(email) }
