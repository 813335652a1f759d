package accessserver

import (
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/validity"
)

// maxClockSkew is how far in this replica's future a status.issuedAt written by the leader may lie.
const maxClockSkew = time.Minute

// specLimits are validity.LimitsOf the spec and status.issuedAt: the latest times the spec allows,
// whatever status says (status is written by the operator, but whoever may patch passcodes/status
// must not mint a passcode that outlives its tenure or a grace period longer than the spec's). An
// issue time missing or in the future, or a spec that does not parse, allows nothing.
func specLimits(now time.Time, pc *accessv1alpha1.Passcode) (validity.Limits, bool) {
	if pc.Status.IssuedAt == nil || pc.Status.IssuedAt.After(now.Add(maxClockSkew)) {
		return validity.Limits{}, false
	}
	t, err := validity.Parse(&pc.Spec)
	if err != nil {
		return validity.Limits{}, false
	}
	return validity.LimitsOf(pc.Status.IssuedAt.Time, t), true
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// grant is what a valid passcode authenticates.
type grant struct {
	email     string
	role      accessv1alpha1.Role
	expiresAt time.Time
	// perms are the role's permissions, resolved after the passcode is found valid.
	perms *permSet
}

// validGrant decides, at request time, whether hash opens account: the Passcode is in that
// namespace, Active and not revoked, the hash is its current one before expiresAt (or its previous
// one before validUntil), and its user exists with access Granted. Deadlines are checked against
// now, whatever the controller has done yet.
func validGrant(now time.Time, account, hash string, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) (grant, bool) {
	if pc == nil || user == nil || pc.Namespace != account || pc.Spec.Revoked ||
		pc.Status.Phase != accessv1alpha1.PasscodeActive || pc.DeletionTimestamp != nil {
		return grant{}, false
	}
	// The passcode belongs to the user object it was issued to, not to a name: a user deleted and
	// created again under the same name inherits nothing.
	if user.Namespace != pc.Namespace || user.Name != pc.Spec.UserRef.Name || user.DeletionTimestamp != nil ||
		pc.BoundUserUID() == "" || pc.BoundUserUID() != user.UID ||
		(user.Spec.Access != accessv1alpha1.AccessGranted && user.Spec.Access != "") {
		return grant{}, false
	}
	limits, ok := specLimits(now, pc)
	if !ok {
		return grant{}, false
	}
	var until time.Time
	switch {
	case pc.Status.Hash == hash && pc.Status.ExpiresAt != nil:
		until = earliest(pc.Status.ExpiresAt.Time, limits.Expires)
	case pc.Status.Previous != nil && pc.Status.Previous.Hash == hash:
		until = earliest(pc.Status.Previous.ValidUntil.Time, limits.PreviousUntil)
	default:
		return grant{}, false
	}
	if !now.Before(until) {
		return grant{}, false
	}
	return grant{email: user.Spec.Email, role: user.Spec.Role, expiresAt: until}, true
}
