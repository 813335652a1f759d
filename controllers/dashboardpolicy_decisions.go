package controllers

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
	"github.com/dashboardops/access-operator/internal/policy"
)

// Pure decisions of the DashboardPolicyReconciler: the project's users and passcodes against the
// policy, and what the inactivity rules do and when. Functions of the objects and "now".

// Kinds a policy reports on and acts on.
const (
	kindDashboardUser = "DashboardUser"
	kindPasscode      = "Passcode"
)

// PolicyActionRevoke is the inactivity rules' revocation (status.nextAction.action).
const PolicyActionRevoke = "Revoke"

// inactivityAction is one revocation the inactivity rules make, due at At.
type inactivityAction struct {
	Kind, Name string
	At         time.Time
	// Since is the last activity the period counts from, and SinceWhat what it was ("last login",
	// "invite acceptance", "last use", "issue").
	Since     time.Time
	SinceWhat string
	// Rule is the policy field (spec.inactivity.revokeUsersAfter or revokePasscodesUnusedFor) and
	// Period its value.
	Rule, Period string
}

// policyPlan is what a policy's reconcile writes and does.
type policyPlan struct {
	Compliant, NonCompliant int32
	Listed                  []accessv1alpha1.PolicyViolation // the first MaxListedNonCompliant
	ActiveAdmins, SeatsUsed int32
	Due                     []inactivityAction // revocations due now, users first, then by name
	Next                    *inactivityAction  // the earliest one not yet due
	// Regranted are users a person granted access again after the operator revoked it (they still
	// carry the revoked-by annotation): the reconcile stamps RegrantedAtAnnotation on them, and
	// their inactivity counts from now, not from a login long before the revocation.
	Regranted []string
}

// RegrantedAtAnnotation is the API's (kept here for the controllers' tests and callers).
const RegrantedAtAnnotation = accessv1alpha1.RegrantedAtAnnotation

// planPolicy evaluates the project's users and passcodes against the policy at now. Objects being
// deleted and revoked Passcodes are not counted (they give no access); a revoked user is (granting
// access again would bring it back as it is).
func planPolicy(p *accessv1alpha1.DashboardPolicy, users []accessv1alpha1.DashboardUser, passcodes []accessv1alpha1.Passcode,
	now time.Time) (policyPlan, error) {
	var plan policyPlan
	var bad []accessv1alpha1.PolicyViolation
	userPeriod, pcPeriod, err := inactivityPeriods(p)
	if err != nil {
		return plan, err
	}
	var pending []inactivityAction
	for i := range users {
		u := &users[i]
		if !u.DeletionTimestamp.IsZero() {
			continue
		}
		if v := policy.UserViolations(p.Namespace, &p.Spec, u.Spec.Email); len(v) > 0 {
			bad = append(bad, violation(kindDashboardUser, u.Name, v))
		} else {
			plan.Compliant++
		}
		if u.Spec.Access == accessv1alpha1.AccessRevoked {
			continue
		}
		plan.SeatsUsed++
		if policy.ActiveAdmin(u) {
			plan.ActiveAdmins++
		}
		since, what := policy.UserActivity(u)
		if u.Annotations[RevokedByAnnotation] != "" {
			plan.Regranted = append(plan.Regranted, u.Name)
			since, what = now, "access granted again"
		}
		if userPeriod > 0 && !since.IsZero() {
			pending = append(pending, inactivityAction{Kind: kindDashboardUser, Name: u.Name, At: since.Add(userPeriod), Since: since,
				SinceWhat: what, Rule: "spec.inactivity.revokeUsersAfter", Period: p.Spec.Inactivity.RevokeUsersAfter})
		}
	}
	for i := range passcodes {
		pc := &passcodes[i]
		if !pc.DeletionTimestamp.IsZero() || pc.Spec.Revoked {
			continue
		}
		if v := policy.PasscodeViolations(p.Namespace, &p.Spec, &pc.Spec); len(v) > 0 {
			bad = append(bad, violation(kindPasscode, pc.Name, v))
		} else {
			plan.Compliant++
		}
		if since, what := passcodeActivity(pc); pcPeriod > 0 && !since.IsZero() {
			pending = append(pending, inactivityAction{Kind: kindPasscode, Name: pc.Name, At: since.Add(pcPeriod), Since: since,
				SinceWhat: what, Rule: "spec.inactivity.revokePasscodesUnusedFor", Period: p.Spec.Inactivity.RevokePasscodesUnusedFor})
		}
	}
	plan.NonCompliant = int32(len(bad)) //nolint:gosec // bounded by the namespace's objects
	slices.SortFunc(bad, func(a, b accessv1alpha1.PolicyViolation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	plan.Listed = bad[:min(len(bad), accessv1alpha1.MaxListedNonCompliant)]
	slices.SortFunc(pending, func(a, b inactivityAction) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	for i := range pending {
		if now.Before(pending[i].At) {
			plan.Next = &pending[i]
			break
		}
		plan.Due = append(plan.Due, pending[i])
	}
	// Users first: revoking a user revokes its passcodes too, with the user named as the reason.
	slices.SortStableFunc(plan.Due, func(a, b inactivityAction) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return plan, nil
}

// inactivityPeriods reads spec.inactivity (0: no rule). The CRD refuses malformed values, so an
// error here means a policy stored by an older CRD: nothing is revoked by it.
func inactivityPeriods(p *accessv1alpha1.DashboardPolicy) (users, passcodes time.Duration, err error) {
	in := p.Spec.Inactivity
	if in == nil {
		return 0, 0, nil
	}
	if in.RevokeUsersAfter != "" {
		if users, err = duration.Inactivity(in.RevokeUsersAfter); err != nil {
			return 0, 0, fmt.Errorf("spec.inactivity.revokeUsersAfter: %w", err)
		}
	}
	if in.RevokePasscodesUnusedFor != "" {
		if passcodes, err = duration.Inactivity(in.RevokePasscodesUnusedFor); err != nil {
			return 0, 0, fmt.Errorf("spec.inactivity.revokePasscodesUnusedFor: %w", err)
		}
	}
	return users, passcodes, nil
}

// passcodeActivity is the passcode's last use, else when its current passcode was issued (a
// rotation or reset issues a new one and restarts the count); a Passcode not issued yet has none.
func passcodeActivity(pc *accessv1alpha1.Passcode) (time.Time, string) {
	switch {
	case pc.Status.LastUsedAt != nil:
		return pc.Status.LastUsedAt.Time, "last use"
	case pc.Status.IssuedAt != nil:
		return pc.Status.IssuedAt.Time, "issue"
	}
	return time.Time{}, ""
}

func violation(kind, name string, vs []policy.Violation) accessv1alpha1.PolicyViolation {
	v := accessv1alpha1.PolicyViolation{Kind: kind, Name: name}
	for _, x := range vs {
		v.Rules = append(v.Rules, x.Rule)
	}
	return v
}

// policyMessage is Ready's message.
func policyMessage(plan policyPlan) string {
	msg := fmt.Sprintf("%d compliant, %d non-compliant", plan.Compliant, plan.NonCompliant)
	if plan.Next != nil {
		msg += fmt.Sprintf("; next: revoke %s %s at %s (%s %s after its %s)", plan.Next.Kind, plan.Next.Name,
			plan.Next.At.UTC().Format(time.RFC3339), plan.Next.Rule, plan.Next.Period, plan.Next.SinceWhat)
	}
	return msg
}

// Condition type and reasons of a DashboardPolicy's spec.admins.minimum.
const (
	ConditionAdminsMinimum = "AdminsMinimum"
	ReasonEnoughAdmins     = "EnoughAdmins"
	ReasonTooFewAdmins     = "TooFewAdmins"
)

// adminsCondition says whether the project has the active Admins spec.admins.minimum asks for:
// nil when the policy sets no minimum.
func adminsCondition(p *accessv1alpha1.DashboardPolicy, active int32) *metav1.Condition {
	if p.Spec.Admins == nil || p.Spec.Admins.Minimum == 0 {
		return nil
	}
	min := p.Spec.Admins.Minimum
	c := &metav1.Condition{Type: ConditionAdminsMinimum, Status: metav1.ConditionTrue, Reason: ReasonEnoughAdmins,
		Message: fmt.Sprintf("%d active Admins, spec.admins.minimum is %d", active, min)}
	if active < min {
		c.Status, c.Reason = metav1.ConditionFalse, ReasonTooFewAdmins
		c.Message = fmt.Sprintf("only %d active Admins (role Admin, access Granted), fewer than spec.admins.minimum %d", active, min)
	}
	return c
}
