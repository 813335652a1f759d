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
		issued := pc.Status.DeepCopy()

		// Orphaned, so that no garbage collector deletes the Passcode first (the worst case).
		Expect(k8sClient.Delete(ctx, alice, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		Eventually(func(g Gomega) { gone(g, alice) }).Should(Succeed())
		bob := &accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "u"},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "bob@example.com", Role: accessv1alpha1.RoleAdmin},
		}
		Expect(k8sClient.Create(ctx, bob)).To(Succeed())
		Expect(verifyStatus(ns, aliceCode)).To(Equal(http.StatusUnauthorized), "alice's passcode must never verify as bob")

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

		// So far the revocation alone refuses alice's passcode. The access server must refuse it for
		// the UID as well: a status written back as issued (a stale replica, or whoever may patch
		// passcodes/status) makes the Passcode Active and bound to alice again, under bob's name.
		// The controller revokes it again soon; each refusal counts only if the manager's cache (what
		// the access server reads) held that Active Passcode and bob both before and after it.
		By("the access server refusing alice's passcode for bob's UID alone")
		Eventually(func(g Gomega) {
			stale := getPasscode(g, ns, "u-api")
			stale.Status = *issued
			g.Expect(k8sClient.Status().Update(ctx, stale)).To(Succeed())
		}).Should(Succeed())
		cachedPremise := func() (string, bool) {
			cpc, cu := &accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}
			if mgr.GetCache().Get(ctx, client.ObjectKeyFromObject(pc), cpc) != nil || mgr.GetCache().Get(ctx, client.ObjectKeyFromObject(bob), cu) != nil {
				return "", false
			}
			ok := cpc.Status.Phase == accessv1alpha1.PasscodeActive && !cpc.Spec.Revoked && cpc.Status.Hash == issued.Hash &&
				cpc.BoundUserUID() == alice.UID && cu.UID == bob.UID
			return cpc.ResourceVersion + "/" + cu.ResourceVersion, ok
		}
		decided := 0
		for attempt := 0; decided == 0 && attempt < 10_000; attempt++ { // about 10 s
			before, ok := cachedPremise()
			if !ok {
				time.Sleep(time.Millisecond)
				continue
			}
			code := verifyStatus(ns, aliceCode)
			if after, ok := cachedPremise(); ok && after == before {
				Expect(code).To(Equal(http.StatusUnauthorized), "alice's Active passcode verified as bob")
				decided++
			}
		}
		Expect(decided).To(BeNumerically(">", 0), "the cache never held the stale Active Passcode with bob: the UID check was not tested")
		pc = waitForPasscode(ns, "u-api", inPhase(accessv1alpha1.PasscodeRevoked, 1))

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
