package admission

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/policy"
)

// The operator reports existing objects against a DashboardPolicy with internal/policy, the one Go
// implementation of the rules the admission policy enforces in CEL. Both must agree: for each input,
// the API server refuses exactly when the Go rules find a violation, with the first violation's
// message.
func TestGoRulesAgreeWithTheAdmissionPolicy(t *testing.T) {
	ns := newNamespace(t, "agree")
	grant(t, ns, "tom", editPasscodes)
	tom := as("tom")
	spec := accessv1alpha1.DashboardPolicySpec{
		Invites:   &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com", "*.corp.example.org", "x-y.io"}},
		Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "36h", RequireAutomaticRotation: true, MaxGracePeriod: "90m"},
	}
	if err := admin.Create(ctx, &accessv1alpha1.DashboardPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accessv1alpha1.DashboardPolicyName}, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(func() bool {
		return tom.Create(ctx, dashboardUser(ns, "probe", "probe@elsewhere.io"), client.DryRunAll) != nil
	}, "the DashboardPolicy to be enforced"); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, vs []policy.Violation) {
		t.Helper()
		switch {
		case len(vs) == 0:
			accepted(t, err, what+" (the Go rules find no violation)")
		default:
			refused(t, err, vs[0].Message)
		}
	}
	emails := []string{
		"a@example.com", "a@mail.example.com", "a@corp.example.org", "a@eu.corp.example.org", "a@a.b.corp.example.org",
		"a@xcorp.example.org", "a@x-y.io", "a@sub.x-y.io", "a@example.com.evil.io", "a@evilexample.com",
	}
	for i, email := range emails {
		check(email, tom.Create(ctx, dashboardUser(ns, fmt.Sprintf("u%d", i), email), client.DryRunAll),
			policy.UserViolations(ns, &spec, email))
	}
	n := 0
	for _, tn := range []string{"1m", "36h", "2160m", "2161m", "37h", "1d", "2d"} {
		for _, rot := range []*accessv1alpha1.RotationSpec{
			nil,
			{Policy: accessv1alpha1.RotationManual},
			{Policy: accessv1alpha1.RotationAutomatic},
			{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: "90m"},
			{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: "91m"},
			{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: "1h"},
			{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: "2h"},
			{Policy: accessv1alpha1.RotationManual, GracePeriod: "2h"},
		} {
			n++
			pc := passcode(ns, fmt.Sprintf("p%d", n), tenure(tn))
			pc.Spec.Rotation = rot
			check(fmt.Sprintf("tenure %s, rotation %+v", tn, rot), tom.Create(ctx, pc, client.DryRunAll),
				policy.PasscodeViolations(ns, &spec, &pc.Spec))
		}
	}
	t.Logf("%d emails and %d passcodes compared", len(emails), n)
}
