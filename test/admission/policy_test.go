package admission

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func dashboardUser(ns, name, email string) *accessv1alpha1.DashboardUser {
	return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: email, Role: "Member"}}
}

func rotation(policy accessv1alpha1.RotationPolicy, grace string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: policy, GracePeriod: grace}
	}
}

func tenure(t string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) { pc.Spec.Tenure = t }
}

// Issue 26 §1: a project's DashboardPolicy default is enforced at apply by the dashboard-policy
// admission policy, on the real API server; a project without one is not checked, and what existed
// before the policy is not blocked by writes that leave the checked fields alone.
func TestDashboardPolicyAtApply(t *testing.T) {
	ns := newNamespace(t, "governed")
	free := newNamespace(t, "free")
	team := "tess"
	grant(t, ns, team, editPasscodes)
	grant(t, free, team, editPasscodes)
	tess := as(team)

	// Before any policy: anything the CRD allows.
	accepted(t, tess.Create(ctx, dashboardUser(ns, "early", "early@elsewhere.io")), "a user at any domain without a policy")
	legacy := passcode(ns, "legacy", tenure("365d"), rotation(accessv1alpha1.RotationManual, "24h"))
	accepted(t, tess.Create(ctx, legacy), "a 365d Manual passcode without a policy")

	policy := &accessv1alpha1.DashboardPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accessv1alpha1.DashboardPolicyName},
		Spec: accessv1alpha1.DashboardPolicySpec{
			Invites:   &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com", "*.corp.example.org"}},
			Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "90d", RequireAutomaticRotation: true, MaxGracePeriod: "1h"},
		}}
	if err := admin.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	// The API server reads parameters through an informer: wait until it sees this one.
	created := time.Now()
	if err := waitFor(func() bool {
		return tess.Create(ctx, dashboardUser(ns, "probe", "probe@elsewhere.io"), client.DryRunAll) != nil
	}, "the DashboardPolicy to be enforced"); err != nil {
		t.Fatal(err)
	}
	t.Logf("the policy was enforced %v after its create", time.Since(created).Round(time.Millisecond))

	domains := "spec.invites.allowedEmailDomains allows example.com, *.corp.example.org (*.example.com means its subdomains only)"
	refused(t, tess.Create(ctx, dashboardUser(ns, "bob", "bob@elsewhere.io")),
		"spec.email: the domain elsewhere.io is not allowed by DashboardPolicy "+ns+"/default: "+domains)
	refused(t, tess.Create(ctx, dashboardUser(ns, "sub", "sub@mail.example.com")), "spec.email: the domain mail.example.com is not allowed")
	refused(t, tess.Create(ctx, dashboardUser(ns, "apex", "apex@corp.example.org")), "spec.email: the domain corp.example.org is not allowed")
	refused(t, tess.Create(ctx, dashboardUser(ns, "suffix", "s@evilexample.com")), "spec.email: the domain evilexample.com is not allowed")
	accepted(t, tess.Create(ctx, dashboardUser(ns, "jane", "jane@example.com")), "a user at an allowed domain")
	accepted(t, tess.Create(ctx, dashboardUser(ns, "eu", "eu@eu.corp.example.org")), "a user at a subdomain of a *. entry")

	refused(t, tess.Create(ctx, passcode(ns, "long", tenure("91d"), rotation(accessv1alpha1.RotationAutomatic, ""))),
		"spec.tenure: 91d is longer than DashboardPolicy "+ns+"/default allows: spec.passcodes.maxTenure is 90d")
	refused(t, tess.Create(ctx, passcode(ns, "long-hours", tenure("2161h"), rotation(accessv1alpha1.RotationAutomatic, ""))),
		"spec.tenure: 2161h is longer")
	refused(t, tess.Create(ctx, passcode(ns, "manual")),
		"spec.rotation.policy: must be Automatic, not Manual: DashboardPolicy "+ns+"/default sets spec.passcodes.requireAutomaticRotation")
	refused(t, tess.Create(ctx, passcode(ns, "graceful", rotation(accessv1alpha1.RotationAutomatic, "2h"))),
		"spec.rotation.gracePeriod: 2h is longer than DashboardPolicy "+ns+"/default allows: spec.passcodes.maxGracePeriod is 1h")
	accepted(t, tess.Create(ctx, passcode(ns, "compliant", tenure("2160h"), rotation(accessv1alpha1.RotationAutomatic, "60m"))),
		"a passcode at the limits")

	// What was there before: writes that leave the checked fields alone pass (the operator's
	// finalizers and owner references, a label); changing one of them is checked.
	accepted(t, tess.Patch(ctx, legacy.DeepCopy(), mergePatch(`{"metadata":{"labels":{"team":"data"}}}`)), "labelling a non-compliant passcode")
	accepted(t, tess.Patch(ctx, dashboardUser(ns, "early", ""), mergePatch(`{"spec":{"displayName":"Early Bird"}}`)),
		"editing a user at a domain no longer allowed")
	refused(t, tess.Patch(ctx, legacy.DeepCopy(), mergePatch(`{"spec":{"tenure":"180d"}}`)), "spec.tenure: 180d is longer")
	accepted(t, tess.Patch(ctx, legacy.DeepCopy(), mergePatch(`{"spec":{"tenure":"30d","rotation":{"policy":"Automatic","gracePeriod":"1h"}}}`)),
		"bringing it within the policy")

	// Another project without a policy is not checked.
	accepted(t, tess.Create(ctx, dashboardUser(free, "bob", "bob@elsewhere.io")), "a user in a project without a policy")
	accepted(t, tess.Create(ctx, passcode(free, "long", tenure("365d"))), "a passcode in a project without a policy")

	// Deleting the policy lifts it.
	if err := admin.Delete(ctx, policy); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(func() bool {
		return tess.Create(ctx, dashboardUser(ns, "probe", "probe@elsewhere.io"), client.DryRunAll) == nil
	}, "the deleted DashboardPolicy to be lifted"); err != nil {
		t.Fatal(err)
	}
}
