package controllers_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// The suite's manager runs with every notification type enabled and the webhook notifier pointed
// at the inbox (suite_test.go), so these specs see each notification as a receiver does.
var _ = Describe("Lifecycle notifications", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	// delivered lists the notifications the inbox received for ns as "type name revision".
	delivered := func() []string {
		evs := inbox.eventsIn(ns)
		out := make([]string, 0, len(evs))
		for _, ev := range evs {
			name := ev.PasscodeName
			if name == "" {
				name = ev.User
			}
			out = append(out, ev.Type+" "+name+" "+strconv.FormatInt(ev.Revision, 10))
		}
		return out
	}
	// onceEach checks that every received notification of ns arrived once (by idempotency key),
	// with the key in the header and the document alike, and holds no passcode, hash or token.
	onceEach := func(g Gomega, forbidden ...string) {
		seen := map[string]bool{}
		for _, ev := range inbox.eventsIn(ns) {
			g.Expect(seen).NotTo(HaveKey(ev.IdempotencyKey), "delivered twice: %s", ev.Body)
			seen[ev.IdempotencyKey] = true
			g.Expect(ev.HeaderKey).To(Equal(ev.IdempotencyKey))
			for _, f := range forbidden {
				g.Expect(ev.Body).NotTo(ContainSubstring(f))
			}
			g.Expect(ev.Body).NotTo(ContainSubstring("sha256:"))
			g.Expect(ev.Body).NotTo(ContainSubstring("/invitations/"))
		}
	}

	It("tells of a Manual passcode's issue, of its expiring at expiresAt - renewBefore, and of its expiry, once each", func() {
		createUser(ns, "nia")
		createPasscode(ns, "nia-api", "nia", "3d")
		pc := waitForPasscode(ns, "nia-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		value := string(secretOf(Default, ns, passcodesecret.Name(pc)).Data[passcodesecret.KeyPasscode])
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"passcode.issued nia-api 1"}))
		waitForPasscode(ns, "nia-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.Notifications).To(Equal(&accessv1alpha1.PasscodeNotificationsStatus{
				Revision: 1, Sent: []string{"passcode.issued"}}), "the delivery is recorded after the send")
		})
		first := inbox.eventsIn(ns)[0]
		Expect(first.Email).To(Equal("nia@example.com"))
		Expect(first.Reason).To(Equal(accessv1alpha1.ReasonIssued))

		// A Manual passcode has no renewalTime; expiring is due at expiresAt - renewBefore (a third).
		Expect(pc.Status.RenewalTime).To(BeNil())
		notifyAt := pc.Status.ExpiresAt.Add(-24 * time.Hour)
		fakeClock.SetTime(notifyAt.Add(-time.Second))
		poke(pc)
		Consistently(delivered).WithTimeout(time.Second).Should(HaveLen(1), "not before its time")
		fakeClock.SetTime(notifyAt)
		poke(pc)
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"passcode.issued nia-api 1", "passcode.expiring nia-api 1"}))

		fakeClock.SetTime(pc.Status.ExpiresAt.Time)
		poke(pc)
		waitForPasscode(ns, "nia-api", inPhase(accessv1alpha1.PasscodeExpired, 1))
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"passcode.issued nia-api 1", "passcode.expiring nia-api 1", "passcode.expired nia-api 1"}))
		pc = waitForPasscode(ns, "nia-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.Notifications.Sent).To(Equal([]string{"passcode.issued", "passcode.expiring", "passcode.expired"}))
		})
		Consistently(func(g Gomega) { onceEach(g, value, pc.Status.Hash) }).WithTimeout(2 * time.Second).Should(Succeed())
		Expect(delivered()).To(HaveLen(3), "nothing more after the expiry")
	})

	It("tells of a rotation and a revocation; a new process sends nothing delivered, a lost record is sent again with the same key", func() {
		createUser(ns, "oto")
		createPasscode(ns, "oto-api", "oto", "3d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}
		})
		pc := waitForPasscode(ns, "oto-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"passcode.issued oto-api 1"}))
		fakeClock.SetTime(pc.Status.RenewalTime.Time)
		poke(pc)
		waitForPasscode(ns, "oto-api", inPhase(accessv1alpha1.PasscodeActive, 2))
		Eventually(delivered).WithTimeout(15*time.Second).Should(Equal([]string{"passcode.issued oto-api 1", "passcode.rotated oto-api 2"}),
			"an Automatic passcode is rotated, never 'expiring'")
		Expect(inbox.eventsIn(ns)[1].Reason).To(Equal(accessv1alpha1.ReasonRotated))

		update(pc, func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true })
		waitForPasscode(ns, "oto-api", inPhase(accessv1alpha1.PasscodeRevoked, 2))
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"passcode.issued oto-api 1", "passcode.rotated oto-api 2", "passcode.revoked oto-api 2"}))
		pc = waitForPasscode(ns, "oto-api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.Notifications).To(Equal(&accessv1alpha1.PasscodeNotificationsStatus{
				Revision: 2, Sent: []string{"passcode.rotated", "passcode.revoked"}}))
		})

		// A new process (a restart, a new leader) has nothing in memory: it finds everything
		// delivered in status and sends nothing.
		rec := &recordingNotifier{}
		fresh := &controllers.NotificationReconciler{Client: mgr.GetClient(), APIReader: k8sClient, Clock: fakeClock,
			Notifier: rec, Events: allEvents()}
		_, err := fresh.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pc)})
		Expect(err).NotTo(HaveOccurred())
		Expect(rec.sent()).To(BeEmpty())

		// A crash between the send and the record of it: the record is lost, the notification is
		// sent again, with the key it had (the receiver drops the repeat).
		revokedKey := inbox.eventsIn(ns)[2].IdempotencyKey
		patch := []byte(`{"status":{"notifications":{"revision":2,"sent":["passcode.rotated"]}}}`)
		Expect(k8sClient.Status().Patch(ctx, pc, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Eventually(func() []string {
			var keys []string
			for _, ev := range inbox.eventsIn(ns) {
				if ev.Type == "passcode.revoked" {
					keys = append(keys, ev.IdempotencyKey)
				}
			}
			return keys
		}).WithTimeout(15 * time.Second).Should(Equal([]string{revokedKey, revokedKey}))
		Expect(rec.sent()).To(BeEmpty())
	})

	It("tells of a role change and of a revoked access once each, from the outbox written with the change", func() {
		u := createUser(ns, "pia")
		waitUntil[accessv1alpha1.DashboardUser](ns, "pia", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.ObservedRole).To(Equal(accessv1alpha1.RoleMember))
		})
		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin })
		Eventually(delivered).WithTimeout(15 * time.Second).Should(Equal([]string{"user.role-changed pia 0"}))
		ev := inbox.eventsIn(ns)[0]
		Expect([]string{ev.PreviousRole, ev.Role, ev.Email}).To(Equal([]string{"Member", "Admin", "pia@example.com"}))
		waitUntil[accessv1alpha1.DashboardUser](ns, "pia", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PendingNotifications).To(BeEmpty(), "delivered notifications leave the outbox")
		})

		// The receiver is down: the notification waits in the outbox and is retried with backoff.
		inbox.setFailing(ns+"/pia", true)
		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		waitUntil[accessv1alpha1.DashboardUser](ns, "pia", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.Phase).To(Equal(accessv1alpha1.UserRevoked))
			g.Expect(u.Status.PendingNotifications).To(ConsistOf(HaveField("Type", "user.access-revoked")),
				"queued in the status write that records the revocation")
		})
		Consistently(delivered).WithTimeout(time.Second).Should(HaveLen(1))
		inbox.setFailing(ns+"/pia", false)
		Eventually(delivered).WithTimeout(20 * time.Second).Should(Equal([]string{"user.role-changed pia 0", "user.access-revoked pia 0"}))
		waitUntil[accessv1alpha1.DashboardUser](ns, "pia", func(g Gomega, u *accessv1alpha1.DashboardUser) {
			g.Expect(u.Status.PendingNotifications).To(BeEmpty())
		})
		Consistently(func(g Gomega) { onceEach(g) }).WithTimeout(2 * time.Second).Should(Succeed())
		for _, t := range inbox.allTokens() {
			for _, ev := range inbox.eventsIn(ns) {
				Expect(strings.Contains(ev.Body, t)).To(BeFalse(), "an invite token in a notification")
			}
		}
	})
})

// recordingNotifier records the events it is given.
type recordingNotifier struct {
	mu     sync.Mutex
	events []notify.Event
}

func (r *recordingNotifier) Notify(_ context.Context, ev notify.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recordingNotifier) Delivers(notify.EventType) bool { return true }

func (r *recordingNotifier) sent() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Event(nil), r.events...)
}

func allEvents() notify.EventSet {
	var s notify.EventSet
	for _, t := range notify.EventTypes() {
		s = s.With(t)
	}
	return s
}
