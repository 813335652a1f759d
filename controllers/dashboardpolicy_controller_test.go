package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
	"github.com/dashboardops/access-operator/internal/metrics"
)

func createPolicy(ns string, spec accessv1alpha1.DashboardPolicySpec) {
	p := &accessv1alpha1.DashboardPolicy{ObjectMeta: metaName(ns, accessv1alpha1.DashboardPolicyName), Spec: spec}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
}

func policyObserved(g Gomega, p *accessv1alpha1.DashboardPolicy) {
	g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	ready := apimeta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionReady)
	g.Expect(ready).NotTo(BeNil())
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
}

// policyReconciledAfter is the barrier for "nothing was revoked": a spec edit that changes no
// decision (warnBefore, not acted on), then the reconcile of that generation.
func policyReconciledAfter(ns string) {
	reconciledAfter(ns, accessv1alpha1.DashboardPolicyName, func(p *accessv1alpha1.DashboardPolicy) {
		if p.Spec.Inactivity.WarnBefore == "7d" {
			p.Spec.Inactivity.WarnBefore = "6d"
		} else {
			p.Spec.Inactivity.WarnBefore = "7d"
		}
	}, func(p *accessv1alpha1.DashboardPolicy) int64 { return p.Status.ObservedGeneration })
}

// setUserStatus writes a user's status as the access server (last login) would.
func setUserStatus(ns, name string, change func(*accessv1alpha1.DashboardUser)) {
	Eventually(func(g Gomega) {
		u := get[accessv1alpha1.DashboardUser](g, ns, name)
		before := u.DeepCopy()
		change(u)
		g.Expect(k8sClient.Status().Patch(ctx, u, client.MergeFrom(before))).To(Succeed())
	}).Should(Succeed())
}

func nextAction(p *accessv1alpha1.DashboardPolicy) string {
	if p.Status.NextAction == nil {
		return ""
	}
	a := p.Status.NextAction
	return a.Action + " " + a.Kind + "/" + a.Name + " at " + a.At.UTC().Format(time.RFC3339)
}

var _ = Describe("DashboardPolicy", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("counts the project's users and passcodes against the rules and names the non-compliant ones, changing none", func() {
		createUser(ns, "alice")
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "bob"),
			Spec: accessv1alpha1.DashboardUserSpec{Email: "bob@elsewhere.io", Role: accessv1alpha1.RoleAdmin}}
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		createPasscode(ns, "alice-api", "alice", "365d") // predates the policy
		createPasscode(ns, "alice-ci", "alice", "30d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}
		})
		other := newNamespace() // another project's objects are not counted
		createUser(other, "zed")

		createPolicy(ns, accessv1alpha1.DashboardPolicySpec{
			Invites:   &accessv1alpha1.InvitePolicy{AllowedEmailDomains: []string{"example.com"}},
			Passcodes: &accessv1alpha1.PasscodePolicy{MaxTenure: "90d", RequireAutomaticRotation: true},
		})
		p := waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			policyObserved(g, p)
			g.Expect(p.Status.Compliant).To(Equal(int32(2)))
			g.Expect(p.Status.NonCompliant).To(Equal(int32(2)))
		})
		Expect(p.Status.NonCompliantObjects).To(Equal([]accessv1alpha1.PolicyViolation{
			{Kind: "DashboardUser", Name: "bob", Rules: []string{"spec.invites.allowedEmailDomains"}},
			{Kind: "Passcode", Name: "alice-api", Rules: []string{"spec.passcodes.maxTenure", "spec.passcodes.requireAutomaticRotation"}},
		}))
		Expect(p.Status.SeatsUsed).To(Equal(int32(2)))
		Expect(p.Status.ActiveAdmins).To(Equal(int32(1)))
		Expect(p.Status.NextAction).To(BeNil())
		Expect(apimeta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionReady).Message).To(Equal("2 compliant, 2 non-compliant"))

		By("a change of a user wakes the policy: bob's deletion leaves one non-compliant")
		Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			g.Expect(p.Status.NonCompliant).To(Equal(int32(1)))
			g.Expect(p.Status.NonCompliantObjects).To(HaveLen(1))
		})
		pc := getPasscode(Default, ns, "alice-api")
		Expect(pc.Spec.Tenure).To(Equal("365d"), "reported, never changed")
		Expect(pc.Spec.Revoked).To(BeFalse())
	})

	It("revokes a user who has not logged in for revokeUsersAfter: not a second before, at the time; a login postpones it", func() {
		createUser(ns, "alice")
		createUser(ns, "invited") // never accepted: not inactive, never revoked
		login := fakeClock.Now().Truncate(time.Second)
		setUserStatus(ns, "alice", func(u *accessv1alpha1.DashboardUser) { u.Status.LastLoginAt = &metav1.Time{Time: login} })
		revokedBefore := testutil.ToFloat64(metrics.PolicyRevocations.WithLabelValues(ns, "DashboardUser"))

		createPolicy(ns, accessv1alpha1.DashboardPolicySpec{Inactivity: &accessv1alpha1.InactivityPolicy{RevokeUsersAfter: "1d"}})
		due := login.Add(24 * time.Hour)
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			policyObserved(g, p)
			g.Expect(nextAction(p)).To(Equal("Revoke DashboardUser/alice at " + due.UTC().Format(time.RFC3339)))
		})

		By("a second before: nothing revoked")
		fakeClock.SetTime(due.Add(-time.Second))
		policyReconciledAfter(ns)
		Expect(access(ns, "alice")).To(Equal(accessv1alpha1.AccessGranted))

		By("a login moves the time")
		login2 := fakeClock.Now().Truncate(time.Second)
		setUserStatus(ns, "alice", func(u *accessv1alpha1.DashboardUser) { u.Status.LastLoginAt = &metav1.Time{Time: login2} })
		due2 := login2.Add(24 * time.Hour)
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			g.Expect(nextAction(p)).To(Equal("Revoke DashboardUser/alice at " + due2.UTC().Format(time.RFC3339)))
		})
		fakeClock.SetTime(due)
		policyReconciledAfter(ns)
		Expect(access(ns, "alice")).To(Equal(accessv1alpha1.AccessGranted), "the login postponed it")

		By("at the new time: revoked, with the annotation, an Event and the counter")
		fakeClock.SetTime(due2)
		policyReconciledAfter(ns)
		Eventually(func() accessv1alpha1.Access { return access(ns, "alice") }).Should(Equal(accessv1alpha1.AccessRevoked))
		alice := get[accessv1alpha1.DashboardUser](Default, ns, "alice")
		Expect(alice.Annotations).To(HaveKeyWithValue(controllers.RevokedByAnnotation, "dashboardpolicy/default"))
		Eventually(func(g Gomega) {
			g.Expect(warningsAbout(g, "DashboardUser", ns, "alice")).To(ContainElement(
				"RevokedForInactivity: Access revoked by DashboardPolicy default: spec.inactivity.revokeUsersAfter is 1d and the last login was at " +
					login2.UTC().Format(time.RFC3339)))
		}).Should(Succeed())
		Expect(testutil.ToFloat64(metrics.PolicyRevocations.WithLabelValues(ns, "DashboardUser")) - revokedBefore).To(Equal(1.0))
		Expect(access(ns, "invited")).To(Equal(accessv1alpha1.AccessGranted))
		p := waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			g.Expect(p.Status.SeatsUsed).To(Equal(int32(1)))
		})
		Expect(p.Status.NextAction).To(BeNil())

		By("granted again by a person: the old login does not revoke her at once, inactivity counts from now")
		update(alice, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessGranted })
		regranted := fakeClock.Now().Truncate(time.Second)
		alice = waitUntil(ns, "alice", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Annotations).To(HaveKeyWithValue(controllers.RegrantedAtAnnotation, regranted.UTC().Format(time.RFC3339)))
		})
		Expect(alice.Annotations).NotTo(HaveKey(controllers.RevokedByAnnotation))
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			g.Expect(nextAction(p)).To(Equal("Revoke DashboardUser/alice at " + regranted.Add(24*time.Hour).UTC().Format(time.RFC3339)))
		})
		policyReconciledAfter(ns)
		Expect(access(ns, "alice")).To(Equal(accessv1alpha1.AccessGranted))
	})

	It("revokes a passcode unused for revokePasscodesUnusedFor, counted from its issue; a use postpones it", func() {
		createUser(ns, "alice")
		createPasscode(ns, "alice-api", "alice", "30d")
		pc := waitForPasscode(ns, "alice-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		issuedAt := pc.Status.IssuedAt.Time
		revokedBefore := testutil.ToFloat64(metrics.PolicyRevocations.WithLabelValues(ns, "Passcode"))

		createPolicy(ns, accessv1alpha1.DashboardPolicySpec{Inactivity: &accessv1alpha1.InactivityPolicy{RevokePasscodesUnusedFor: "2d"}})
		due := issuedAt.Add(48 * time.Hour)
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			policyObserved(g, p)
			g.Expect(nextAction(p)).To(Equal("Revoke Passcode/alice-api at " + due.UTC().Format(time.RFC3339)))
		})

		By("a second before: not revoked; then a use moves the time")
		fakeClock.SetTime(due.Add(-time.Second))
		policyReconciledAfter(ns)
		Expect(getPasscode(Default, ns, "alice-api").Spec.Revoked).To(BeFalse())
		used := fakeClock.Now().Truncate(time.Minute) // the access server coalesces to a minute
		Eventually(func(g Gomega) {
			pc := getPasscode(g, ns, "alice-api")
			patch := []byte(`{"status":{"lastUsedAt":"` + used.UTC().Format(time.RFC3339) + `"}}`)
			g.Expect(k8sClient.Status().Patch(ctx, pc, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		}).Should(Succeed())
		due2 := used.Add(48 * time.Hour)
		waitUntil(ns, accessv1alpha1.DashboardPolicyName, func(g Gomega, p *accessv1alpha1.DashboardPolicy) {
			g.Expect(nextAction(p)).To(Equal("Revoke Passcode/alice-api at " + due2.UTC().Format(time.RFC3339)))
		})
		fakeClock.SetTime(due)
		policyReconciledAfter(ns)
		Expect(getPasscode(Default, ns, "alice-api").Spec.Revoked).To(BeFalse(), "the use postponed it")

		By("at the new time: revoked, the passcode controller carries it out")
		fakeClock.SetTime(due2)
		policyReconciledAfter(ns)
		pc = waitForPasscode(ns, "alice-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Spec.Revoked).To(BeTrue())
			g.Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeRevoked))
		})
		Expect(pc.Annotations).To(HaveKeyWithValue(controllers.RevokedByAnnotation, "dashboardpolicy/default"))
		Eventually(func(g Gomega) {
			g.Expect(eventReasons(g, ns, "alice-api")).To(ContainElement(controllers.ReasonRevokedForInactivity))
		}).Should(Succeed())
		Expect(testutil.ToFloat64(metrics.PolicyRevocations.WithLabelValues(ns, "Passcode")) - revokedBefore).To(Equal(1.0))
		Expect(access(ns, "alice")).To(Equal(accessv1alpha1.AccessGranted), "the user keeps its access")
	})
})
