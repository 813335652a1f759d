package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// Issue 22, item 4: the manager's cache keeps no data of a Secret larger than its bound
// (setup.TrimManagedSecret), here a Passcode's Secret another tool added a 900 KB key to. The
// operator still repairs it when its passcode is edited, as it does any Secret: it confirms every
// Secret the cache does not show in sync with a live read.
var _ = Describe("An oversized Secret of the operator's", func() {
	It("is kept in the cache without its data and still repaired when its passcode is edited", func() {
		ns := newNamespace()
		createUser(ns, "jane")
		createPasscode(ns, "api", "jane", "1h")
		waitForPasscode(ns, "api", inPhase(accessv1alpha1.PasscodeActive, 1))

		s := secretOf(Default, ns, "api")
		s.Data["bulky"] = make([]byte, 900<<10)
		s.Data[passcodesecret.KeyPasscode] = []byte("dpc_mine")
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		Eventually(func(g Gomega) {
			cached := &corev1.Secret{}
			g.Expect(mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: ns, Name: "api"}, cached)).To(Succeed())
			g.Expect(cached.Data).To(BeNil()) // the edit, and the repair after it, stay over the bound
		}).Should(Succeed())
		pc := waitForPasscode(ns, "api", inPhase(accessv1alpha1.PasscodeActive, 2))
		Eventually(func(g Gomega) {
			live := secretOf(g, ns, "api")
			g.Expect(passcode.Matches(string(live.Data[passcodesecret.KeyPasscode]), pc.Status.Hash)).To(BeTrue())
			g.Expect(live.Data["bulky"]).To(HaveLen(900 << 10)) // another tool's key stays
		}).Should(Succeed())
	})
})
