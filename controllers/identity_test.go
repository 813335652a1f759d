package controllers_test

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// A passcode belongs to the user object it was issued to, not to the user's name.
var _ = Describe("Identity bound to the user's UID", func() {
	It("gives a user created again under an old name none of the old user's passcodes", func() {
		ns := newNamespace()
		alice := createUser(ns, "u")
		pc, aliceCode := grantOwned(alice, "u-api")
		Expect(pc.Status.UserUID).To(Equal(alice.UID), "the issue records whom the passcode was issued to")

		// Orphaned, so that no garbage collector deletes the Passcode first (the worst case).
		Expect(k8sClient.Delete(ctx, alice, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		Eventually(func(g Gomega) { gone(g, alice) }).Should(Succeed())
		bob := &accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "u"},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "bob@example.com", Role: accessv1alpha1.RoleAdmin},
		}
		Expect(k8sClient.Create(ctx, bob)).To(Succeed())
		Consistently(func() int { return verifyStatus(ns, aliceCode) }).WithTimeout(2*time.Second).
			Should(Equal(http.StatusUnauthorized), "alice's passcode must never verify as bob")

		pc = waitForPasscode(ns, "u-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeRevoked, 1)(g, pc)
			g.Expect(readyReason(pc)).To(Equal("False/Revoked"))
		})
		// Revoked when alice was deleted, or, if the controller saw bob first, because bob is not alice.
		Expect(pc.Status.Conditions).To(ContainElement(HaveField("Message", Or(
			ContainSubstring(`"u" was deleted`), ContainSubstring("deleted and created again")))))
		Expect(pc.OwnerReferences).NotTo(ContainElement(HaveField("UID", bob.UID)), "bob does not become an owner of alice's Passcode")
		s := secretOf(Default, ns, "u-api")
		Expect(s.Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Expect(string(s.Data[passcodesecret.KeyEmail])).NotTo(Equal("bob@example.com"), "the Secret never silently becomes bob's")
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "u-api") }).Should(ContainElement(accessv1alpha1.ReasonRevoked))

		By("a reset issues a passcode for the new user")
		requestReset(pc, "2026-02-01T00:00:00Z")
		pc = waitForPasscode(ns, "u-api", inPhase(accessv1alpha1.PasscodeActive, 2))
		Expect(pc.Status.UserUID).To(Equal(bob.UID))
		bobCode := string(secretOf(Default, ns, "u-api").Data[passcodesecret.KeyPasscode])
		Eventually(func() int { return verifyStatus(ns, bobCode) }).Should(Equal(http.StatusOK))
		Expect(verifyStatus(ns, aliceCode)).To(Equal(http.StatusUnauthorized), "no grace for the old user's passcode")
	})
})

var _ = Describe("Long names", func() {
	It("issues a passcode for a Passcode whose name is longer than a label value (63 characters)", func() {
		ns := newNamespace()
		// What the plugin names the Passcode of firstname.lastname@engineering.subsidiary.example.com.
		name := "firstname-lastname-engineering-subsidiary-example-com-1a2b3c4d-api"
		Expect(len(name)).To(BeNumerically(">", 63))
		createUser(ns, "firstname")
		createPasscode(ns, name, "firstname", "1h")
		pc := waitForPasscode(ns, name, inPhase(accessv1alpha1.PasscodeActive, 1))
		s := secretOf(Default, ns, pc.Status.SecretName)
		label := s.Labels[accessv1alpha1.PasscodeLabel]
		Expect(validation.IsValidLabelValue(label)).To(BeEmpty())
		Expect(label).To(Equal(passcodesecret.PasscodeLabelValue(name)))
		Expect(label).To(HavePrefix(name[:40]))
		Expect(s.Data).To(HaveKey(passcodesecret.KeyPasscode))
	})
})
