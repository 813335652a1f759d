package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/policy"
)

// ProjectPolicy is the project's DashboardPolicy (named default), or nil when it has none or the
// caller may not read it: the API server enforces the policy whatever this finds, this only says
// the same thing before anything is sent.
func ProjectPolicy(ctx context.Context, c client.Client, ns string) *accessv1alpha1.DashboardPolicySpec {
	p := &accessv1alpha1.DashboardPolicy{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: accessv1alpha1.DashboardPolicyName}, p); err != nil {
		return nil
	}
	return &p.Spec
}

// violations joins the messages of vs, or "" when there are none.
func violations(vs []policy.Violation) string {
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.Message
	}
	return strings.Join(msgs, "; ")
}

// CheckPasscodePolicy refuses, with the admission policy's own message and before anything is
// written, a Passcode spec the project's DashboardPolicy does not allow.
func CheckPasscodePolicy(ctx context.Context, c client.Client, ns string, spec *accessv1alpha1.PasscodeSpec) error {
	p := ProjectPolicy(ctx, c, ns)
	if p == nil {
		return nil
	}
	if msg := violations(policy.PasscodeViolations(ns, p, spec)); msg != "" {
		return usageErrorf("%s", msg)
	}
	return nil
}

// CheckAdminsMinimum refuses to take u out of the project's active Admins (a demotion or a
// revocation) when that leaves fewer than its DashboardPolicy's spec.admins.minimum, unless force.
func CheckAdminsMinimum(ctx context.Context, c client.Client, ns string, u *accessv1alpha1.DashboardUser, force bool) error {
	if force || !policy.ActiveAdmin(u) {
		return nil
	}
	p := ProjectPolicy(ctx, c, ns)
	if p == nil || p.Admins == nil || p.Admins.Minimum == 0 {
		return nil
	}
	var list accessv1alpha1.DashboardUserList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("counting the Admins of project %q for its DashboardPolicy's spec.admins.minimum: %w", ns, err)
	}
	active := 0
	for i := range list.Items {
		if policy.ActiveAdmin(&list.Items[i]) {
			active++
		}
	}
	if int32(active-1) >= p.Admins.Minimum { //nolint:gosec // a project's users
		return nil
	}
	return usageErrorf("refused: dashboarduser/%s is one of the %d active Admins of project %s, and its DashboardPolicy's "+
		"spec.admins.minimum is %d; --force does it anyway", u.Name, active, ns, p.Admins.Minimum)
}

// InactivityMark is a user its project's DashboardPolicy revokes for inactivity within
// spec.inactivity.warnBefore (or at once: its time has passed).
type InactivityMark struct {
	Project, User, Email string
	At                   time.Time
}

// InactivityMarks finds, page by page, the users their project's policy revokes for inactivity
// soon; each project's policy is read once.
type InactivityMarks struct {
	Now      time.Time
	Marks    []InactivityMark
	policies map[string]*accessv1alpha1.DashboardPolicySpec
}

// Check looks at one page of users.
func (m *InactivityMarks) Check(ctx context.Context, c client.Client, users []accessv1alpha1.DashboardUser) {
	if m.policies == nil {
		m.policies = map[string]*accessv1alpha1.DashboardPolicySpec{}
	}
	for i := range users {
		u := &users[i]
		p, seen := m.policies[u.Namespace]
		if !seen {
			p = ProjectPolicy(ctx, c, u.Namespace)
			m.policies[u.Namespace] = p
		}
		if p == nil {
			continue
		}
		if at, soon := policy.UserRevocationDue(p, u, m.Now); soon {
			m.Marks = append(m.Marks, InactivityMark{Project: u.Namespace, User: u.Name, Email: u.Spec.Email, At: at})
		}
	}
}
