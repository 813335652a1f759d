package plugin_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
	"github.com/dashboardops/access-operator/internal/plugin"
)

// This suite's API server runs no admission policy: what is refused here is refused by the plugin,
// before sending, with the admission policy's own message (test/admission holds the two together).
var _ = Describe("a project's DashboardPolicy", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		Expect(k8sClient.Create(ctx, &accessv1alpha1.DashboardPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: accessv1alpha1.DashboardPolicySpec{
				Invites:   &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com"}},
				Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "30d", RequireAutomaticRotation: true}}})).To(Succeed())
	})

	It("refuses invites outside its email domains, and invites the others", func() {
		r := run("invite", "-n", ns, "--role", "Member", "ana@example.com", "bob@elsewhere.io").
			fail(plugin.ExitAPIError, "1 of 2 users could not be invited", "cannot invite bob@elsewhere.io: spec.email: the domain elsewhere.io is not allowed by DashboardPolicy "+
				ns+"/default: spec.invites.allowedEmailDomains allows example.com (*.example.com means its subdomains only)")
		Expect(r.Out).To(ContainSubstring("ana@example.com as Member"))
		list := &accessv1alpha1.DashboardUserList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(1), "only ana was created")
	})

	It("refuses a passcode longer or less rotated than it allows, writing nothing", func() {
		run("invite", "-n", ns, "--role", "Member", "ana@example.com").succeed()
		run("passcode", "grant", "ana@example.com", "--tenure", "90d", "-n", ns).fail(plugin.ExitUsage,
			"spec.tenure: 90d is longer than DashboardPolicy "+ns+"/default allows: spec.passcodes.maxTenure is 30d; "+
				"spec.rotation.policy: must be Automatic, not Manual: DashboardPolicy "+ns+"/default sets spec.passcodes.requireAutomaticRotation")
		list := &accessv1alpha1.PasscodeList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(BeEmpty())
		run("passcode", "grant", "ana@example.com", "--tenure", "30d", "--rotation", "Automatic", "-n", ns).succeed()
	})

	It("refuses to demote or revoke an Admin below its admins minimum, unless --force", func() {
		p := &accessv1alpha1.DashboardPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, p)).To(Succeed())
		p.Spec.Admins = &accessv1alpha1.AdminPolicy{Minimum: 2}
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		run("invite", "-n", ns, "--role", "Admin", "ana@example.com", "ben@example.com").succeed()
		want := "is one of the 2 active Admins of project " + ns + ", and its DashboardPolicy's spec.admins.minimum is 2; --force does it anyway"
		run("users", "revoke", "ana@example.com", "-n", ns).fail(plugin.ExitUsage, "refused: dashboarduser/ana-example-com", want)
		run("users", "set-role", "ben@example.com", "Member", "-n", ns).fail(plugin.ExitUsage, "refused: dashboarduser/ben-example-com", want)
		run("invite", "-n", ns, "--role", "Admin", "cy@example.com").succeed()
		run("users", "set-role", "ben@example.com", "Member", "-n", ns).succeed()
		run("users", "revoke", "ana@example.com", "-n", ns).fail(plugin.ExitUsage, "refused: dashboarduser/ana-example-com")
		run("users", "revoke", "ana@example.com", "-n", ns, "--force").succeed()
		u, err := ops.GetUser(ctx, k8sClient, ns, "ana@example.com")
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Spec.Access).To(Equal(accessv1alpha1.AccessRevoked))
	})

	It("lists users and marks those its inactivity rule revokes within warnBefore", func() {
		p := &accessv1alpha1.DashboardPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, p)).To(Succeed())
		p.Spec.Inactivity = &accessv1alpha1.InactivityPolicy{RevokeUsersAfter: "30d", WarnBefore: "7d"}
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		run("invite", "-n", ns, "--role", "Member", "ana@example.com", "ben@example.com").succeed()
		login := func(email string, ago time.Duration) *accessv1alpha1.DashboardUser {
			u, err := ops.GetUser(ctx, k8sClient, ns, email)
			Expect(err).NotTo(HaveOccurred())
			u.Status.LastLoginAt = &metav1.Time{Time: time.Now().Add(-ago).Truncate(time.Second)}
			Expect(k8sClient.Status().Update(ctx, u)).To(Succeed())
			return u
		}
		ana := login("ana@example.com", 25*24*time.Hour) // revoked in 5 days
		login("ben@example.com", 24*time.Hour)           // in 29 days
		out := run("users", "list", "-n", ns).succeed().Out
		Expect(out).To(ContainSubstring("\nTo be revoked for inactivity (DashboardPolicy spec.inactivity.revokeUsersAfter; a login postpones it):\n  " +
			ns + "/" + ana.Name + " (ana@example.com) at " + ana.Status.LastLoginAt.Add(30*24*time.Hour).UTC().Format(time.RFC3339) + "\n"))
		Expect(out).NotTo(ContainSubstring("(ben@example.com) at"))
	})
})
