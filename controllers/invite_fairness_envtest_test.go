package controllers_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Issue 22 item 9: one project's flood of new users never holds up another project's invites.
var _ = Describe("Invite pacing between projects", func() {
	It("sends another project's invite while one project's flood is queued", func() {
		flood, quiet := newNamespace(), newNamespace()
		DeferCleanup(func() {
			// The queued rest of the flood would go out as later specs move the clock: not needed.
			Expect(k8sClient.DeleteAllOf(ctx, &accessv1alpha1.DashboardUser{}, client.InNamespace(flood))).To(Succeed())
		})
		for i := range 200 {
			createUser(flood, fmt.Sprintf("flood-%03d", i))
		}
		invited := func(ns string) int {
			list := &accessv1alpha1.DashboardUserList{}
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			n := 0
			for _, u := range list.Items {
				if u.Status.Phase == accessv1alpha1.UserInvited {
					n++
				}
			}
			return n
		}
		// The fake clock stands still, so the window does not turn: the flood fills its 50.
		Eventually(func() int { return invited(flood) }).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 45))
		createUser(quiet, "quiet-jane")
		Eventually(func() int { return invited(quiet) }).WithTimeout(20*time.Second).Should(Equal(1),
			"the quiet project's invite goes out in the same window, though the flood's 150 others wait")
		Expect(inbox.invites("quiet-jane@example.com")).To(HaveLen(1), "delivered through the notifier")
		Expect(invited(flood)).To(BeNumerically("<=", 50), "the flood still goes out at most 50 per window")
	})
})
