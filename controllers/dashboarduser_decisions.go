package controllers

import (
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Pure decisions of the DashboardUser reconciler.

// pendingResend returns the resend annotation's value when it has not been handled yet.
func pendingResend(u *accessv1alpha1.DashboardUser) (string, bool) {
	v := u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation]
	return v, v != "" && v != u.Status.LastResendRequestedAt
}

// inviteLinkExpired: an invite link works until expiresAt, not from it.
func inviteLinkExpired(now time.Time, u *accessv1alpha1.DashboardUser) bool {
	inv := u.Status.Invite
	return inv != nil && inv.ExpiresAt != nil && !now.Before(inv.ExpiresAt.Time)
}

// accepted: the user accepted an invite (the access server stamps acceptedAt).
func accepted(u *accessv1alpha1.DashboardUser) bool {
	return u.Status.Invite != nil && u.Status.Invite.AcceptedAt != nil
}

// resetInvite forgets the current invite so that a new link is made and delivered: the old link's
// hash is dropped, so it stops working at once.
func resetInvite(u *accessv1alpha1.DashboardUser) {
	number := int32(0)
	if u.Status.Invite != nil {
		number = u.Status.Invite.Number
	}
	u.Status.Invite = &accessv1alpha1.InviteStatus{Number: number}
	u.Status.Phase = accessv1alpha1.UserPending
}

// summarizePasscodes is the users page's Passcode column over a user's Passcodes, and when it will
// change by itself (an Active passcode entering its renew window or expiring). The best state
// wins: Active, then Expiring, Expired, Revoked; no issued passcode is None.
func summarizePasscodes(now time.Time, pcs []accessv1alpha1.Passcode) (accessv1alpha1.PasscodeSummary, time.Duration) {
	rank := map[accessv1alpha1.PasscodeSummary]int{
		accessv1alpha1.PasscodeSummaryNone: 0, accessv1alpha1.PasscodeSummaryRevoked: 1, accessv1alpha1.PasscodeSummaryExpired: 2,
		accessv1alpha1.PasscodeSummaryExpiring: 3, accessv1alpha1.PasscodeSummaryActive: 4,
	}
	best := accessv1alpha1.PasscodeSummaryNone
	var next time.Duration
	soonest := func(at time.Time) {
		if d := at.Sub(now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for i := range pcs {
		pc := &pcs[i]
		s := accessv1alpha1.PasscodeSummaryNone
		switch pc.Status.Phase {
		case accessv1alpha1.PasscodeActive:
			if pc.Status.ExpiresAt == nil {
				continue
			}
			expires := pc.Status.ExpiresAt.Time
			renewFrom := expires
			if t, err := specTimings(pc); err == nil {
				renewFrom = expires.Add(-t.renewBefore).Truncate(time.Second)
			}
			switch {
			case !now.Before(expires):
				s = accessv1alpha1.PasscodeSummaryExpired
			case !now.Before(renewFrom):
				s = accessv1alpha1.PasscodeSummaryExpiring
				soonest(expires)
			default:
				s = accessv1alpha1.PasscodeSummaryActive
				soonest(renewFrom)
			}
		case accessv1alpha1.PasscodeExpired:
			s = accessv1alpha1.PasscodeSummaryExpired
		case accessv1alpha1.PasscodeRevoked:
			s = accessv1alpha1.PasscodeSummaryRevoked
		}
		if rank[s] > rank[best] {
			best = s
		}
	}
	return best, next
}
