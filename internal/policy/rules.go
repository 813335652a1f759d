// Package policy holds the one Go implementation of a DashboardPolicy's apply-time rules
// (spec.invites, spec.passcodes): the operator reports existing objects against them, and the
// plugin and users page can refuse the same inputs before sending. The API server enforces the same
// rules in CEL (config/admission/dashboard_policy.yaml); the messages here are the admission
// policy's, word for word. test/admission TestGoRulesAgreeWithTheAdmissionPolicy keeps the two in
// step on the real API server.
package policy

import (
	"fmt"
	"strings"
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

// Rule names, as a Violation reports them: the policy field that is broken.
const (
	RuleAllowedEmailDomains      = "spec.invites.allowedEmailDomains"
	RuleMaxTenure                = "spec.passcodes.maxTenure"
	RuleRequireAutomaticRotation = "spec.passcodes.requireAutomaticRotation"
	RuleMaxGracePeriod           = "spec.passcodes.maxGracePeriod"
)

// Violation is one rule an object breaks: the policy field and the admission policy's message.
type Violation struct {
	Rule    string
	Message string
}

// EmailDomainAllowed says whether domain matches allowed: empty allows any; `example.com` matches
// exactly, `*.example.com` its subdomains only.
func EmailDomainAllowed(allowed []string, domain string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, d := range allowed {
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if strings.HasSuffix(domain, "."+rest) {
				return true
			}
		} else if domain == d {
			return true
		}
	}
	return false
}

// emailDomain is what follows the last @ (as the admission policy reads it).
func emailDomain(email string) string {
	return email[strings.LastIndex(email, "@")+1:]
}

// UserViolations lists the rules of the policy ns/default that a DashboardUser with email breaks.
func UserViolations(ns string, spec *accessv1alpha1.DashboardPolicySpec, email string) []Violation {
	if spec.Invites == nil || EmailDomainAllowed(spec.Invites.AllowedEmailDomains, emailDomain(email)) {
		return nil
	}
	return []Violation{{Rule: RuleAllowedEmailDomains, Message: fmt.Sprintf(
		"spec.email: the domain %s is not allowed by DashboardPolicy %s/default: spec.invites.allowedEmailDomains allows %s "+
			"(*.example.com means its subdomains only)",
		emailDomain(email), ns, strings.Join(spec.Invites.AllowedEmailDomains, ", "))}}
}

// PasscodeViolations lists the rules of the policy ns/default that a Passcode with spec pc breaks,
// in the admission policy's order. A duration that does not parse (the CRD refuses those) is left
// to the CRD's validation, not reported here.
func PasscodeViolations(ns string, spec *accessv1alpha1.DashboardPolicySpec, pc *accessv1alpha1.PasscodeSpec) []Violation {
	if spec.Passcodes == nil {
		return nil
	}
	p := spec.Passcodes
	var out []Violation
	if p.MaxTenure != "" && longer(pc.Tenure, p.MaxTenure) {
		out = append(out, Violation{Rule: RuleMaxTenure, Message: fmt.Sprintf(
			"spec.tenure: %s is longer than DashboardPolicy %s/default allows: spec.passcodes.maxTenure is %s", pc.Tenure, ns, p.MaxTenure)})
	}
	rotation, grace := accessv1alpha1.RotationManual, "0m"
	if pc.Rotation != nil {
		if pc.Rotation.Policy != "" {
			rotation = pc.Rotation.Policy
		}
		if pc.Rotation.GracePeriod != "" {
			grace = pc.Rotation.GracePeriod
		}
	}
	if p.RequireAutomaticRotation && rotation != accessv1alpha1.RotationAutomatic {
		out = append(out, Violation{Rule: RuleRequireAutomaticRotation, Message: fmt.Sprintf(
			"spec.rotation.policy: must be Automatic, not %s: DashboardPolicy %s/default sets spec.passcodes.requireAutomaticRotation", rotation, ns)})
	}
	if p.MaxGracePeriod != "" && longer(grace, p.MaxGracePeriod) {
		out = append(out, Violation{Rule: RuleMaxGracePeriod, Message: fmt.Sprintf(
			"spec.rotation.gracePeriod: %s is longer than DashboardPolicy %s/default allows: spec.passcodes.maxGracePeriod is %s", grace, ns, p.MaxGracePeriod)})
	}
	return out
}

// longer says whether duration a is longer than limit (both in the API's grammar, compared in
// minutes as the admission policy does); false when either does not parse.
func longer(a, limit string) bool {
	da, err := duration.Parse(a)
	if err != nil {
		return false
	}
	dl, err := duration.Parse(limit)
	if err != nil {
		return false
	}
	return da > dl
}

// ActiveAdmin says whether u counts towards spec.admins.minimum: role Admin, access Granted, not
// being deleted.
func ActiveAdmin(u *accessv1alpha1.DashboardUser) bool {
	return u.DeletionTimestamp.IsZero() && u.Spec.Role == accessv1alpha1.RoleAdmin && u.Spec.Access != accessv1alpha1.AccessRevoked
}

// UserActivity is the user's last activity: its last login, else its invite's acceptance, or when
// its access was granted again after the operator revoked it, if later. A user who never accepted
// has none: an unaccepted invite expires on its own (spec.invite.ttl) and gives no access to revoke.
func UserActivity(u *accessv1alpha1.DashboardUser) (since time.Time, what string) {
	switch {
	case u.Status.LastLoginAt != nil:
		since, what = u.Status.LastLoginAt.Time, "last login"
	case u.Status.Invite != nil && u.Status.Invite.AcceptedAt != nil:
		since, what = u.Status.Invite.AcceptedAt.Time, "invite acceptance"
	}
	if at, err := time.Parse(time.RFC3339, u.Annotations[accessv1alpha1.RegrantedAtAnnotation]); err == nil && at.After(since) {
		since, what = at, "access granted again"
	}
	return since, what
}

// UserRevocationDue says when spec.inactivity.revokeUsersAfter revokes u, if it will (u has access
// and was active once), and whether that falls within spec.inactivity.warnBefore of now (or has
// passed): the users `kubectl dashboard users list` marks.
func UserRevocationDue(spec *accessv1alpha1.DashboardPolicySpec, u *accessv1alpha1.DashboardUser, now time.Time) (at time.Time, soon bool) {
	in := spec.Inactivity
	if in == nil || in.RevokeUsersAfter == "" || u.Spec.Access == accessv1alpha1.AccessRevoked || !u.DeletionTimestamp.IsZero() {
		return time.Time{}, false
	}
	period, err := duration.Inactivity(in.RevokeUsersAfter)
	if err != nil {
		return time.Time{}, false
	}
	warn, err := duration.WarnBefore(in.WarnBefore)
	if err != nil {
		return time.Time{}, false
	}
	since, _ := UserActivity(u)
	if since.IsZero() {
		return time.Time{}, false
	}
	at = since.Add(period)
	return at, !now.Before(at.Add(-warn))
}
