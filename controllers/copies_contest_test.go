package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Issue 22 item 10: with accept-passcodes-from "*", two accounts asking for a copy of the same name
// in one namespace. The first to write keeps the name; the second is refused, and both say so.
var _ = Describe("Secret copies of one name from two accounts", func() {
	It("keeps the first writer's copy and refuses the second, visibly on both", func() {
		first, second, gateway := newNamespace(), newNamespace(), newNamespace()
		consent(gateway, "*")
		toShared := func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: gateway, Name: "shared"}}
		}
		createUser(first, "jane")
		createPasscode(first, "api", "jane", "2h", toShared)
		waitForPasscode(first, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeActive, 1)(g, pc)
			g.Expect(copiesCondition(pc)).NotTo(BeNil())
			g.Expect(copiesCondition(pc).Reason).To(Equal(accessv1alpha1.ReasonCopiesSynced))
		})
		firstPrimary := secretOf(Default, first, "api")

		createUser(second, "mallory")
		createPasscode(second, "api", "mallory", "2h", toShared)
		waitForPasscode(second, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeActive, 1)(g, pc)
			cond := copiesCondition(pc)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(accessv1alpha1.ReasonCopyConflict))
			g.Expect(cond.Message).To(ContainSubstring("Secret %s/shared is the copy of a Passcode in namespace %q", gateway, first))
		})
		By("the owner sees the Passcode it keeps the name from")
		waitForPasscode(first, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			cond := copiesCondition(pc)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Reason).To(Equal(accessv1alpha1.ReasonCopiesContested))
			g.Expect(cond.Message).To(ContainSubstring("Secret %s/shared is also asked for by a Passcode in namespace %q", gateway, second))
		})
		Eventually(func(g Gomega) []string { return eventReasons(g, second, "api") }).Should(ContainElement(accessv1alpha1.ReasonCopyConflict))
		Eventually(func(g Gomega) []string { return eventReasons(g, first, "api") }).Should(ContainElement(accessv1alpha1.ReasonCopiesContested))
		Consistently(func(g Gomega) {
			cp := secretOf(g, gateway, "shared")
			g.Expect(cp.Annotations).To(HaveKeyWithValue(passcodesecret.CopyOfAnnotation, first+"/api"))
			sameContent(g, firstPrimary, cp)
		}).WithTimeout(2*time.Second).Should(Succeed(), "the copy keeps the first account's passcode")

		By("when the owner goes, the refused Passcode takes the name")
		Expect(k8sClient.Delete(ctx, getPasscode(Default, first, "api"))).To(Succeed())
		Eventually(func(g Gomega) {
			cp := secretOf(g, gateway, "shared")
			g.Expect(cp.Annotations).To(HaveKeyWithValue(passcodesecret.CopyOfAnnotation, second+"/api"))
			sameContent(g, secretOf(g, second, "api"), cp)
		}).WithTimeout(15 * time.Second).Should(Succeed())
		waitForPasscode(second, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(copiesCondition(pc).Reason).To(Equal(accessv1alpha1.ReasonCopiesSynced))
		})
	})
})
