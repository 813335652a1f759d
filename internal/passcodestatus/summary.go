// Package passcodestatus is the Passcode-Status column of the users page: one user's Passcodes
// summarised at a time. The operator writes it to DashboardUser status.passcodeStatus, and the
// users page computes it from the Passcodes it watches, so both say the same by one rule.
package passcodestatus

import (
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

// Summarize is the users page's Passcode column over a user's Passcodes, and when it will
// change by itself (an Active passcode entering its renew window or expiring). The best state
// wins: Active, then Expiring, Expired, Revoked; no issued passcode is None.
func Summarize(now time.Time, pcs []accessv1alpha1.Passcode) (accessv1alpha1.PasscodeSummary, time.Duration) {
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
			if t, err := renewBefore(pc); err == nil {
				renewFrom = expires.Add(-t).Truncate(time.Second)
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
		best = Better(best, s)
	}
	return best, next
}

// rank orders the summaries: the best state wins.
var rank = map[accessv1alpha1.PasscodeSummary]int{
	accessv1alpha1.PasscodeSummaryNone: 0, accessv1alpha1.PasscodeSummaryRevoked: 1, accessv1alpha1.PasscodeSummaryExpired: 2,
	accessv1alpha1.PasscodeSummaryExpiring: 3, accessv1alpha1.PasscodeSummaryActive: 4,
}

// Better is the better of two summaries. Summarize over a user's Passcodes is Better folded over
// each one's own summary, so a list read page by page needs one summary per user, not its Passcodes.
func Better(a, b accessv1alpha1.PasscodeSummary) accessv1alpha1.PasscodeSummary {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// renewBefore is the spec's renew-before (a third of the tenure unless set).
func renewBefore(pc *accessv1alpha1.Passcode) (time.Duration, error) {
	tenure, err := duration.Tenure(pc.Spec.Tenure)
	if err != nil {
		return 0, err
	}
	if r := pc.Spec.Rotation; r != nil {
		return duration.RenewBefore(r.RenewBefore, tenure)
	}
	return duration.DefaultRenewBefore(tenure), nil
}
