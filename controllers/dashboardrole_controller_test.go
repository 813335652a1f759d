package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func createRole(ns, name string) {
	role := &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, name),
		Spec: accessv1alpha1.DashboardRoleSpec{Description: "reads reports", Permissions: []accessv1alpha1.Permission{"reports.read"}}}
	Expect(k8sClient.Create(ctx, role)).To(Succeed())
}

func createUserWithRole(ns, name string, role accessv1alpha1.Role) *accessv1alpha1.DashboardUser {
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, name),
		Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: role}}
	Expect(k8sClient.Create(ctx, u)).To(Succeed())
	return u
}

// roleUsers waits until the role's status counts n users for its current generation, and Ready says so.
func roleUsers(n int32, msg string) func(Gomega, *accessv1alpha1.DashboardRole) {
	return func(g Gomega, role *accessv1alpha1.DashboardRole) {
		g.Expect(role.Status.Users).To(Equal(n))
		g.Expect(role.Status.ObservedGeneration).To(Equal(role.Generation))
		ready := apimeta.FindStatusCondition(role.Status.Conditions, accessv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(ready.Message).To(Equal(msg))
	}
}

func roleNotFound(role, ns string) func(Gomega, *accessv1alpha1.DashboardUser) {
	return func(g Gomega, u *accessv1alpha1.DashboardUser) {
		ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(string(ready.Status) + "/" + ready.Reason).To(Equal("False/RoleNotFound"))
		g.Expect(ready.Message).To(HavePrefix(`role "` + role + `" does not exist: create the DashboardRole "` + role +
			`" in namespace "` + ns + `" or use a system role`))
		g.Expect(ready.ObservedGeneration).To(Equal(u.Generation))
	}
}

var _ = Describe("DashboardRole", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("counts the users that name it, following role edits and user deletions, and is kstatus Current", func() {
		createRole(ns, "analyst")
		createUserWithRole(ns, "dr-ada", "analyst")
		bo := createUserWithRole(ns, "dr-bo", "analyst")
		createUserWithRole(ns, "dr-cy", accessv1alpha1.RoleMember)
		role := waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(2, "used by 2 users"))
		Expect(role.Finalizers).To(BeEmpty(), "nothing holds a role's deletion (or an uninstall)")
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.DashboardRole{}, types.NamespacedName{Namespace: ns, Name: "analyst"})
		}).Should(Equal(status.CurrentStatus))

		update(bo, func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleCreator })
		waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(1, "used by 1 user"))
		update(bo, func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = "analyst" })
		waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(2, "used by 2 users"))

		Expect(k8sClient.Delete(ctx, &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, "dr-ada")})).To(Succeed())
		waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(1, "used by 1 user"))

		// A spec edit is seen (observedGeneration follows); the count stays.
		role = get[accessv1alpha1.DashboardRole](Default, ns, "analyst")
		update(role, func(r *accessv1alpha1.DashboardRole) { r.Spec.Description = "reads and writes reports" })
		role = waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(1, "used by 1 user"))
		Expect(role.Generation).To(Equal(int64(2)))
	})

	It("writes no status when nothing changed", func() {
		createRole(ns, "analyst")
		createUserWithRole(ns, "dr-ada", "analyst")
		createUserWithRole(ns, "dr-bo", "ghost") // names a role that never comes
		role := waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(1, "used by 1 user"))
		waitUntil[accessv1alpha1.DashboardUser](ns, "dr-bo", roleNotFound("ghost", ns))
		Eventually(func(g Gomega) accessv1alpha1.UserPhase { return getUser(g, ns, "dr-bo").Status.Phase }).
			Should(Equal(accessv1alpha1.UserInvited))

		// Wake both controllers with changes that change nothing they report, a minute later (a
		// transition time that moves on every reconcile would show): a user's annotation (the user
		// reconciles, its role is looked up again) and a user of another role coming (not counted).
		// Then a barrier for each: a spec edit that changes nothing either (a description, a display
		// name), and the generation it bumps observed in status; a reconcile that wrote anything
		// else about the changes before it shows in the comparison.
		bo := getUser(Default, ns, "dr-bo")
		roleStatus, boStatus := role.Status.DeepCopy(), bo.Status.DeepCopy()
		fakeClock.Step(time.Minute)
		poke(bo)
		createUserWithRole(ns, "dr-cy", accessv1alpha1.RoleMember)
		bo = reconciledAfter[accessv1alpha1.DashboardUser](ns, "dr-bo", func(u *accessv1alpha1.DashboardUser) { u.Spec.DisplayName = "Bo" },
			func(u *accessv1alpha1.DashboardUser) int64 { return u.Status.ObservedGeneration })
		role = reconciledAfter[accessv1alpha1.DashboardRole](ns, "analyst", func(r *accessv1alpha1.DashboardRole) { r.Spec.Description = "reads" },
			func(r *accessv1alpha1.DashboardRole) int64 { return r.Status.ObservedGeneration })
		Expect(withGeneration(bo.Status.Conditions, boStatus.Conditions)).To(Equal(bo.Status.Conditions), "the user's conditions changed")
		boStatus.Conditions, boStatus.ObservedGeneration = bo.Status.Conditions, bo.Status.ObservedGeneration
		Expect(bo.Status).To(Equal(*boStatus), "the user's status changed")
		Expect(withGeneration(role.Status.Conditions, roleStatus.Conditions)).To(Equal(role.Status.Conditions), "the role's conditions changed")
		Expect(role.Status.Users).To(Equal(int32(1)), "a user of another role was counted")
	})

	It("may be deleted while in use: its status said so, and its users are not Ready until it returns", func() {
		createUserWithRole(ns, "dr-dora", "analyst") // applied before its role, as GitOps may
		createUserWithRole(ns, "dr-eli", "analyst")
		waitUntil[accessv1alpha1.DashboardUser](ns, "dr-dora", roleNotFound("analyst", ns))
		waitForInvite("dr-dora@example.com", 1) // a missing role holds no invite back
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.DashboardUser{}, types.NamespacedName{Namespace: ns, Name: "dr-dora"})
		}).Should(Equal(status.InProgressStatus), "waiting for a role is progress, not failure")
		Eventually(func(g Gomega) string { return userReady(getUser(g, ns, "dr-dora")) }).WithTimeout(15*time.Second).
			Should(Equal("False/RoleNotFound"), "the invite's outcome does not hide the missing role")

		// The role appears: its users become Ready with no edit of their own.
		createRole(ns, "analyst")
		waitUntil[accessv1alpha1.DashboardRole](ns, "analyst", roleUsers(2, "used by 2 users"))
		for _, name := range []string{"dr-dora", "dr-eli"} {
			waitUntil[accessv1alpha1.DashboardUser](ns, name, func(g Gomega, u *accessv1alpha1.DashboardUser) {
				g.Expect(userReady(u)).To(Equal("True/Invited"))
				g.Expect(apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReconciling)).To(BeNil())
			})
		}

		// Deleting it is never blocked: its status told who it would hurt ("used by 2 users" above).
		Expect(k8sClient.Delete(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, "analyst")})).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "analyst"}, &accessv1alpha1.DashboardRole{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(15 * time.Second).Should(BeTrue())
		for _, name := range []string{"dr-dora", "dr-eli"} {
			waitUntil[accessv1alpha1.DashboardUser](ns, name, roleNotFound("analyst", ns))
		}
		Expect(inbox.invites("dr-dora@example.com")).To(HaveLen(1), "losing the role sends nothing")
	})

	It("loses an earlier release's finalizer on upgrade, and then goes at once", func() {
		role := &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy",
			Finalizers: []string{"access.dashboardops.io/role-in-use"}},
			Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		waitUntil[accessv1alpha1.DashboardRole](ns, "legacy", func(g Gomega, r *accessv1alpha1.DashboardRole) {
			g.Expect(r.Finalizers).To(BeEmpty())
			g.Expect(r.Status.ObservedGeneration).To(Equal(r.Generation))
		})
		Expect(k8sClient.Delete(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, "legacy")})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "legacy"}, &accessv1alpha1.DashboardRole{}))
		}).WithTimeout(15 * time.Second).Should(BeTrue())
	})

	It("goes without a warning when nobody names it", func() {
		createRole(ns, "unused")
		waitUntil[accessv1alpha1.DashboardRole](ns, "unused", roleUsers(0, "used by no users"))
		Expect(k8sClient.Delete(ctx, &accessv1alpha1.DashboardRole{ObjectMeta: metaName(ns, "unused")})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "unused"}, &accessv1alpha1.DashboardRole{}))
		}).WithTimeout(15 * time.Second).Should(BeTrue())
		Consistently(func(g Gomega) []string { return warningsAbout(g, "DashboardRole", ns, "unused") }).WithTimeout(time.Second).Should(BeEmpty())
	})
})
