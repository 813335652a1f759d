package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/metrics"
)

func getUser(g Gomega, ns, name string) *accessv1alpha1.DashboardUser {
	return get[accessv1alpha1.DashboardUser](g, ns, name)
}

// waitForUser waits until the DashboardUser satisfies match, and returns it.
func waitForUser(ns, name string, match func(Gomega, *accessv1alpha1.DashboardUser)) *accessv1alpha1.DashboardUser {
	return waitUntil[accessv1alpha1.DashboardUser](ns, name, match)
}

func userPhase(phase accessv1alpha1.UserPhase) func(Gomega, *accessv1alpha1.DashboardUser) {
	return func(g Gomega, u *accessv1alpha1.DashboardUser) {
		g.Expect(u.Status.Phase).To(Equal(phase))
		g.Expect(u.Status.ObservedGeneration).To(Equal(u.Generation))
	}
}

func userReady(u *accessv1alpha1.DashboardUser) string {
	c := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// waitForInvite waits for the n-th invite delivered to email and returns it.
func waitForInvite(email string, n int) receivedInvite {
	Eventually(func() int { return len(inbox.invites(email)) }).WithTimeout(15 * time.Second).Should(BeNumerically(">=", n))
	return inbox.invites(email)[n-1]
}

// page drives the invite page through the access server's HTTP handler.
func page(method, token, action string) (int, string) {
	path := "/invitations/" + token
	if action != "" {
		path += "/" + action
	}
	rec := httptest.NewRecorder()
	mgr.Access.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func resendInvite(u client.Object, value string) {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, accessv1alpha1.ResendInviteRequestedAtAnnotation, value))
	Expect(k8sClient.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

var _ = Describe("DashboardUser", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("invites a new user through the notifier, and the accept link makes the user Active", func() {
		u := createUser(ns, "ada")
		inv := waitForInvite("ada@example.com", 1)
		Expect(inv.Project).To(Equal(ns))
		Expect(inv.Role).To(Equal("Member"))
		Expect(inv.AcceptURL).To(HavePrefix("https://dashboard.example.com/invitations/"))
		Expect(inv.IdempotencyKey).To(Equal(string(u.UID) + "-1"))

		u = waitForUser(ns, "ada", userPhase(accessv1alpha1.UserInvited))
		Expect(userReady(u)).To(Equal("True/Invited"))
		Expect(u.Status.Invite.Number).To(Equal(int32(1)))
		Expect(u.Status.Invite.Attempts).To(Equal(int32(1)))
		Expect(u.Status.Invite.TokenHash).To(Equal(invite.Hash(inv.Token())), "only the token's hash is kept")
		Expect(u.Status.Invite.ExpiresAt.Sub(u.Status.Invite.SentAt.Time)).To(Equal(7*24*time.Hour), "the default ttl is 7d")

		Eventually(func() int { code, _ := page("GET", inv.Token(), ""); return code }).Should(Equal(http.StatusOK))
		_, body := page("GET", inv.Token(), "")
		Expect(body).To(ContainSubstring("You were invited to " + ns + " as Member"))
		Expect(body).To(ContainSubstring(`<form method="post" action="/invitations/` + inv.Token() + `/accept">`))

		code, body := page("POST", inv.Token(), "accept")
		Expect(code).To(Equal(http.StatusOK), body)
		Expect(body).To(ContainSubstring("you now have access as Member"))
		u = waitForUser(ns, "ada", userPhase(accessv1alpha1.UserActive))
		Expect(userReady(u)).To(Equal("True/Accepted"))
		Expect(u.Status.Invite.AcceptedAt).NotTo(BeNil())

		Eventually(func() int { code, _ := page("POST", inv.Token(), "accept"); return code }).Should(Equal(http.StatusGone), "single use")
		_, body = page("GET", inv.Token(), "")
		Expect(body).To(ContainSubstring("already accepted"))
		Expect(inbox.invites("ada@example.com")).To(HaveLen(1), "an accepted user is not invited again")
	})

	It("expires an invite at its ttl (fake clock), and a resend makes a new link and kills the old one", func() {
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bo"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "bo@example.com", Role: accessv1alpha1.RoleCreator,
				Invite: &accessv1alpha1.InviteSpec{TTL: "1h"}}}
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		first := waitForInvite("bo@example.com", 1)
		u = waitForUser(ns, "bo", userPhase(accessv1alpha1.UserInvited))

		fakeClock.SetTime(u.Status.Invite.ExpiresAt.Time)
		poke(u)
		u = waitForUser(ns, "bo", userPhase(accessv1alpha1.UserInviteExpired))
		Expect(userReady(u)).To(Equal("False/InviteExpired"))
		code, body := page("GET", first.Token(), "")
		Expect(code).To(Equal(http.StatusGone))
		Expect(body).To(ContainSubstring("expired"))
		code, _ = page("POST", first.Token(), "accept")
		Expect(code).To(Equal(http.StatusGone))

		resendInvite(u, "2026-06-01T00:00:00Z")
		second := waitForInvite("bo@example.com", 2)
		Expect(second.Token()).NotTo(Equal(first.Token()))
		Expect(second.IdempotencyKey).To(Equal(string(u.UID) + "-2"))
		u = waitForUser(ns, "bo", userPhase(accessv1alpha1.UserInvited))
		Expect(u.Status.LastResendRequestedAt).To(Equal("2026-06-01T00:00:00Z"))
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "bo") }).Should(ContainElement(accessv1alpha1.ReasonInvited),
			"a new link replacing one is an Event; a first invite is told by status alone")

		Eventually(func() int { code, _ := page("GET", second.Token(), ""); return code }).Should(Equal(http.StatusOK))
		code, _ = page("GET", first.Token(), "")
		Expect(code).To(Equal(http.StatusNotFound), "the old link is dead")
		code, _ = page("POST", first.Token(), "accept")
		Expect(code).To(Equal(http.StatusNotFound))

		// Re-applying the same annotation value sends nothing: a new display name (which sends
		// nothing either) is the barrier that proves the controller saw it.
		resendInvite(u, "2026-06-01T00:00:00Z")
		poke(u)
		u = reconciledAfter[accessv1alpha1.DashboardUser](ns, "bo", func(u *accessv1alpha1.DashboardUser) { u.Spec.DisplayName = "Bo" },
			func(u *accessv1alpha1.DashboardUser) int64 { return u.Status.ObservedGeneration })
		Expect(u.Status.Invite.Number).To(Equal(int32(2)), "the same resend value made another invite")
		Expect(inbox.invites("bo@example.com")).To(HaveLen(2), "the same resend value sent another invite")

		code, _ = page("POST", second.Token(), "accept")
		Expect(code).To(Equal(http.StatusOK))
		waitForUser(ns, "bo", userPhase(accessv1alpha1.UserActive))
	})

	It("retries a failed delivery with a persisted backoff, saying why without the link", func() {
		inbox.setFailing("cy@example.com", true)
		createUser(ns, "cy")
		u := waitForUser(ns, "cy", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(userReady(u)).To(Equal("False/InviteFailed"))
		})
		Expect(u.Status.Phase).To(Equal(accessv1alpha1.UserPending))
		Expect(u.Status.Invite.LastError).To(ContainSubstring("503"))
		Expect(u.Status.Invite.NextAttemptAt).NotTo(BeNil())
		Expect(u.Status.Invite.Attempts).To(BeNumerically(">=", 1))
		for _, c := range u.Status.Conditions {
			Expect(c.Message).NotTo(ContainSubstring("/invitations/"))
		}
		Expect(u.Status.Invite.LastError).NotTo(ContainSubstring("/invitations/"))

		inbox.setFailing("cy@example.com", false)
		fakeClock.SetTime(u.Status.Invite.NextAttemptAt.Time)
		poke(u)
		inv := waitForInvite("cy@example.com", 1)
		u = waitForUser(ns, "cy", userPhase(accessv1alpha1.UserInvited))
		Expect(u.Status.Invite.LastError).To(BeEmpty())
		Expect(u.Status.Invite.TokenHash).To(Equal(invite.Hash(inv.Token())), "the delivered link is the one that works")
		Expect(inv.IdempotencyKey).To(Equal(string(u.UID)+"-1"), "a retry carries the same link and key")
	})

	It("records a role edit with an Event and reports the new role", func() {
		u := createUser(ns, "di")
		waitForUser(ns, "di", userPhase(accessv1alpha1.UserInvited))
		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleApprover })
		waitForUser(ns, "di", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.ObservedRole).To(Equal(accessv1alpha1.RoleApprover))
		})
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "di") }).Should(ContainElement(accessv1alpha1.ReasonRoleChanged))
	})

	It("revokes access: the user is Revoked, every Passcode of the user too, and the invite link dies", func() {
		u := createUser(ns, "ed")
		inv := waitForInvite("ed@example.com", 1)
		createPasscode(ns, "ed-1", "ed", "1h")
		createPasscode(ns, "ed-2", "ed", "30d")
		waitForPasscode(ns, "ed-1", inPhase(accessv1alpha1.PasscodeActive, 1))
		waitForPasscode(ns, "ed-2", inPhase(accessv1alpha1.PasscodeActive, 1))
		waitForUser(ns, "ed", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PasscodeStatus).To(Equal(accessv1alpha1.PasscodeSummaryActive))
		})

		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		u = waitForUser(ns, "ed", userPhase(accessv1alpha1.UserRevoked))
		Expect(userReady(u)).To(Equal("True/AccessRevoked"))
		waitForPasscode(ns, "ed-1", inPhase(accessv1alpha1.PasscodeRevoked, 1))
		waitForPasscode(ns, "ed-2", inPhase(accessv1alpha1.PasscodeRevoked, 1))
		waitForUser(ns, "ed", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PasscodeStatus).To(Equal(accessv1alpha1.PasscodeSummaryRevoked))
		})
		Eventually(func() int { code, _ := page("GET", inv.Token(), ""); return code }).Should(Equal(http.StatusNotFound))
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "ed") }).Should(ContainElement(accessv1alpha1.ReasonAccessRevoked))
	})

	It("on deletion revokes the user's passcodes, which it owns for the garbage collector", func() {
		createUser(ns, "fay")
		createPasscode(ns, "fay-api", "fay", "1h")
		waitForPasscode(ns, "fay-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		u := waitForUser(ns, "fay", userPhase(accessv1alpha1.UserInvited))
		pc := waitForPasscode(ns, "fay-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.OwnerReferences).To(ContainElement(And(
				HaveField("Kind", "DashboardUser"), HaveField("Name", "fay"), HaveField("UID", u.UID))))
		})
		Expect(pc.Spec.UserRef.Name).To(Equal("fay"), "the owner reference is the only change to the Passcode")

		// Orphaned, the Passcode outlives its user and is revoked (the cascade is in cascade_test.go).
		Expect(k8sClient.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		waitForPasscode(ns, "fay-api", inPhase(accessv1alpha1.PasscodeRevoked, 1))
	})

	It("summarises the user's Passcodes: Active, then Expiring inside the renew window", func() {
		createUser(ns, "gil")
		createPasscode(ns, "gil-api", "gil", "30d")
		pc := waitForPasscode(ns, "gil-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		waitForUser(ns, "gil", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PasscodeStatus).To(Equal(accessv1alpha1.PasscodeSummaryActive))
		})
		fakeClock.SetTime(pc.Status.ExpiresAt.Add(-10 * 24 * time.Hour)) // renewBefore defaults to a third: 10d
		poke(&accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gil"}})
		waitForUser(ns, "gil", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PasscodeStatus).To(Equal(accessv1alpha1.PasscodeSummaryExpiring))
		})
	})

	It("sends a burst of invites at most 50 per batch window", func() {
		queuedBefore := testutil.ToFloat64(metrics.InvitesQueued) // other specs' users waiting already
		for i := range 60 {
			createUser(ns, fmt.Sprintf("burst-%02d", i))
		}
		count := func(phase accessv1alpha1.UserPhase) int {
			list := &accessv1alpha1.DashboardUserList{}
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			n := 0
			for _, u := range list.Items {
				if u.Status.Phase == phase {
					n++
				}
			}
			return n
		}
		// The barrier: every burst user has been looked at, each either Invited or waiting in the
		// Batcher's queue (the gauge counts the queue of every namespace, hence the baseline).
		var invited, queued int
		Eventually(func(g Gomega) {
			invited, queued = count(accessv1alpha1.UserInvited), int(testutil.ToFloat64(metrics.InvitesQueued)-queuedBefore)
			g.Expect(invited+queued).To(Equal(60), "%d invited, %d queued", invited, queued)
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(invited).To(BeNumerically("<=", 50), "the fake clock stands still, so the window does not turn: at most 50 go out")
		Expect(count("")).To(Equal(queued), "the rest wait in the queue, costing no status write")
		fakeClock.Step(time.Second) // the next window
		Eventually(func() int { return count(accessv1alpha1.UserInvited) }).WithTimeout(20 * time.Second).Should(Equal(60))
	})
})
