package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

func policyObj(spec accessv1alpha1.DashboardPolicySpec) *accessv1alpha1.DashboardPolicy {
	return &accessv1alpha1.DashboardPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default"}, Spec: spec}
}

func policyUser(name, email string, mods ...func(*accessv1alpha1.DashboardUser)) accessv1alpha1.DashboardUser {
	u := accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: accessv1alpha1.RoleMember, Access: accessv1alpha1.AccessGranted}}
	for _, m := range mods {
		m(&u)
	}
	return u
}

func policyPasscode(name, tenure string, mods ...func(*accessv1alpha1.Passcode)) accessv1alpha1.Passcode {
	pc := accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "alice"}, Tenure: tenure,
			Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}}}
	for _, m := range mods {
		m(&pc)
	}
	return pc
}

func loggedIn(at time.Time) func(*accessv1alpha1.DashboardUser) {
	return func(u *accessv1alpha1.DashboardUser) { u.Status.LastLoginAt = &metav1.Time{Time: at} }
}

func acceptedInvite(at time.Time) func(*accessv1alpha1.DashboardUser) {
	return func(u *accessv1alpha1.DashboardUser) {
		u.Status.Invite = &accessv1alpha1.InviteStatus{AcceptedAt: &metav1.Time{Time: at}}
	}
}

func issued(at time.Time) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) { pc.Status.IssuedAt = &metav1.Time{Time: at} }
}

func usedAt(at time.Time) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) { pc.Status.LastUsedAt = &metav1.Time{Time: at} }
}

func TestPlanPolicyCountsAndListsNonCompliantObjects(t *testing.T) {
	p := policyObj(accessv1alpha1.DashboardPolicySpec{
		Invites:   &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com"}},
		Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "90d", RequireAutomaticRotation: true},
	})
	deleting := metav1.NewTime(t0)
	users := []accessv1alpha1.DashboardUser{
		policyUser("alice", "alice@example.com", func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin }),
		policyUser("bob", "bob@elsewhere.io"),
		policyUser("rev", "rev@elsewhere.io", func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked }),
		policyUser("gone", "gone@elsewhere.io", func(u *accessv1alpha1.DashboardUser) { u.DeletionTimestamp = &deleting }),
	}
	passcodes := []accessv1alpha1.Passcode{
		policyPasscode("ok", "90d"),
		policyPasscode("long", "365d", func(pc *accessv1alpha1.Passcode) { pc.Spec.Rotation = nil }),
		policyPasscode("revoked", "365d", func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true }),
	}
	plan, err := planPolicy(p, users, passcodes, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Counted: alice, bob, rev (a revoked user is still reported), ok, long; not gone, not revoked.
	if plan.Compliant != 2 || plan.NonCompliant != 3 {
		t.Errorf("compliant %d, non-compliant %d; want 2 and 3", plan.Compliant, plan.NonCompliant)
	}
	got := make([]string, 0, len(plan.Listed))
	for _, v := range plan.Listed {
		got = append(got, v.Kind+"/"+v.Name+":"+strings.Join(v.Rules, ","))
	}
	want := []string{
		"DashboardUser/bob:spec.invites.allowedEmailDomains",
		"DashboardUser/rev:spec.invites.allowedEmailDomains",
		"Passcode/long:spec.passcodes.maxTenure,spec.passcodes.requireAutomaticRotation",
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	if plan.SeatsUsed != 2 || plan.ActiveAdmins != 1 {
		t.Errorf("seats %d, admins %d; want 2 and 1", plan.SeatsUsed, plan.ActiveAdmins)
	}
	if plan.Next != nil || len(plan.Due) != 0 {
		t.Errorf("no inactivity rule: next %+v, due %+v", plan.Next, plan.Due)
	}
}

func TestPlanPolicyListsAtMost20NonCompliant(t *testing.T) {
	p := policyObj(accessv1alpha1.DashboardPolicySpec{Invites: &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com"}}})
	users := make([]accessv1alpha1.DashboardUser, 0, 25)
	for i := range 25 {
		users = append(users, policyUser(fmt.Sprintf("u%02d", i), fmt.Sprintf("u%02d@elsewhere.io", i)))
	}
	plan, _ := planPolicy(p, users, nil, t0)
	if plan.NonCompliant != 25 || len(plan.Listed) != accessv1alpha1.MaxListedNonCompliant || plan.Listed[19].Name != "u19" {
		t.Errorf("non-compliant %d, listed %d (last %s); want 25, 20, u19", plan.NonCompliant, len(plan.Listed), plan.Listed[len(plan.Listed)-1].Name)
	}
}

func TestPlanPolicyInactivity(t *testing.T) {
	p := policyObj(accessv1alpha1.DashboardPolicySpec{Inactivity: &accessv1alpha1.InactivityPolicy{RevokeUsersAfter: "90d", RevokePasscodesUnusedFor: "30d"}})
	day := duration.Day
	for _, tc := range []struct {
		name      string
		users     []accessv1alpha1.DashboardUser
		passcodes []accessv1alpha1.Passcode
		due       []string // kind/name, in the order revoked
		next      string   // kind/name@offset from t0
	}{
		{name: "a second before: not due, next at the time",
			users: []accessv1alpha1.DashboardUser{policyUser("alice", "a@x.io", loggedIn(t0.Add(-90*day+time.Second)))},
			next:  "DashboardUser/alice@1s"},
		{name: "at the time: due",
			users: []accessv1alpha1.DashboardUser{policyUser("alice", "a@x.io", loggedIn(t0.Add(-90*day)))},
			due:   []string{"DashboardUser/alice"}},
		{name: "never logged in: counted from acceptance",
			users: []accessv1alpha1.DashboardUser{policyUser("bob", "b@x.io", acceptedInvite(t0.Add(-89*day)))},
			next:  "DashboardUser/bob@24h0m0s"},
		{name: "a login after acceptance counts",
			users: []accessv1alpha1.DashboardUser{policyUser("bob", "b@x.io", acceptedInvite(t0.Add(-200*day)), loggedIn(t0.Add(-10*day)))},
			next:  "DashboardUser/bob@1920h0m0s"},
		{name: "never accepted, already revoked, being deleted: nothing to do",
			users: []accessv1alpha1.DashboardUser{
				policyUser("invited", "i@x.io"),
				policyUser("rev", "r@x.io", loggedIn(t0.Add(-900*day)), func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked }),
				policyUser("gone", "g@x.io", loggedIn(t0.Add(-900*day)), func(u *accessv1alpha1.DashboardUser) { u.DeletionTimestamp = &metav1.Time{Time: t0} }),
			}},
		{name: "passcodes: last use, else issue; never issued or revoked: nothing",
			passcodes: []accessv1alpha1.Passcode{
				policyPasscode("used", "90d", issued(t0.Add(-100*day)), usedAt(t0.Add(-29*day))),
				policyPasscode("unused", "90d", issued(t0.Add(-30*day))),
				policyPasscode("pending", "90d"),
				policyPasscode("revoked", "90d", issued(t0.Add(-300*day)), func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true }),
			},
			due:  []string{"Passcode/unused"},
			next: "Passcode/used@24h0m0s"},
		{name: "granted again after a revocation: counts from now, not from the old login",
			users: []accessv1alpha1.DashboardUser{policyUser("alice", "a@x.io", loggedIn(t0.Add(-400*day)), func(u *accessv1alpha1.DashboardUser) {
				u.Annotations = map[string]string{RevokedByAnnotation: "dashboardpolicy/default"}
			})},
			next: "DashboardUser/alice@2160h0m0s"},
		{name: "stamped as granted again: counts from the stamp when later than the login",
			users: []accessv1alpha1.DashboardUser{policyUser("alice", "a@x.io", loggedIn(t0.Add(-400*day)), func(u *accessv1alpha1.DashboardUser) {
				u.Annotations = map[string]string{RegrantedAtAnnotation: t0.Add(-89 * day).Format(time.RFC3339)}
			})},
			next: "DashboardUser/alice@24h0m0s"},
		{name: "users are revoked before passcodes; the earliest pending is next",
			users: []accessv1alpha1.DashboardUser{policyUser("zed", "z@x.io", loggedIn(t0.Add(-91*day))), policyUser("amy", "a@x.io", loggedIn(t0.Add(-88*day)))},
			passcodes: []accessv1alpha1.Passcode{
				policyPasscode("a-pc", "90d", usedAt(t0.Add(-400*day))),
				policyPasscode("b-pc", "90d", usedAt(t0.Add(-29*day+time.Hour))),
			},
			due:  []string{"DashboardUser/zed", "Passcode/a-pc"},
			next: "Passcode/b-pc@25h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planPolicy(p, tc.users, tc.passcodes, t0)
			if err != nil {
				t.Fatal(err)
			}
			due := make([]string, 0, len(plan.Due))
			for _, a := range plan.Due {
				due = append(due, a.Kind+"/"+a.Name)
			}
			if !slices.Equal(due, tc.due) {
				t.Errorf("due %v, want %v", due, tc.due)
			}
			next := ""
			if plan.Next != nil {
				next = fmt.Sprintf("%s/%s@%s", plan.Next.Kind, plan.Next.Name, plan.Next.At.Sub(t0))
			}
			if next != tc.next {
				t.Errorf("next %q, want %q", next, tc.next)
			}
		})
	}
}

func TestPlanPolicyRefusesAMalformedInactivityRule(t *testing.T) {
	// The CRD refuses it; a policy stored by an older CRD revokes nothing.
	p := policyObj(accessv1alpha1.DashboardPolicySpec{Inactivity: &accessv1alpha1.InactivityPolicy{RevokeUsersAfter: "1m"}})
	users := []accessv1alpha1.DashboardUser{policyUser("alice", "a@x.io", loggedIn(t0.Add(-900*duration.Day)))}
	plan, err := planPolicy(p, users, nil, t0)
	if err == nil || !strings.HasPrefix(err.Error(), "spec.inactivity.revokeUsersAfter: ") || len(plan.Due) != 0 {
		t.Errorf("err %v, due %v; want an error naming spec.inactivity.revokeUsersAfter and nothing due", err, plan.Due)
	}
}

func TestPolicyMessageNamesTheNextAction(t *testing.T) {
	msg := policyMessage(policyPlan{Compliant: 3, NonCompliant: 1, Next: &inactivityAction{Kind: kindDashboardUser, Name: "bob",
		At: t0, SinceWhat: "last login", Rule: "spec.inactivity.revokeUsersAfter", Period: "90d"}})
	want := "3 compliant, 1 non-compliant; next: revoke DashboardUser bob at 2026-03-01T10:00:00Z (spec.inactivity.revokeUsersAfter 90d after its last login)"
	if msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

func TestAdminsConditionSaysWhenTooFew(t *testing.T) {
	p := &accessv1alpha1.DashboardPolicy{}
	if c := adminsCondition(p, 0); c != nil {
		t.Fatalf("no minimum, no condition: %+v", c)
	}
	p.Spec.Admins = &accessv1alpha1.AdminPolicy{Minimum: 2}
	if c := adminsCondition(p, 1); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonTooFewAdmins ||
		c.Message != "only 1 active Admins (role Admin, access Granted), fewer than spec.admins.minimum 2" {
		t.Errorf("1 of 2: %+v", c)
	}
	if c := adminsCondition(p, 2); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonEnoughAdmins {
		t.Errorf("2 of 2: %+v", c)
	}
}
