package plugin

import (
	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// The validation of invites lives in internal/ops, shared with the users page; these are its
// names as the plugin has always exported them.

// MaxInvites is the dashboard's limit of users invited in one call.
const MaxInvites = ops.MaxInvites

// Invitee is one user to invite.
type Invitee = ops.Invitee

// InviteProblems is every reason an invite call is refused.
type InviteProblems = ops.InviteProblems

// ParseRole returns the role named s exactly (see ops.ParseRole).
func ParseRole(s string) (accessv1alpha1.Role, error) { return ops.ParseRole(s) }
