package controllers_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

var _ = Describe("Passcode", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("grants: a Secret with every key, our labels, the template, an owner and a revision", func() {
		createUser(ns, "jane")
		createPasscode(ns, "jane-api", "jane", "30d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretName = "jane-api-key"
			pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
				Labels: map[string]accessv1alpha1.LabelValue{"team": "analytics"}, Annotations: map[string]string{"note": "for the ETL"}}
		})
		pc := waitForPasscode(ns, "jane-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		Expect(readyReason(pc)).To(Equal("True/Issued"))
		Expect(pc.Status.SecretName).To(Equal("jane-api-key"))
		Expect(pc.Status.ExpiresAt.Sub(pc.Status.IssuedAt.Time)).To(Equal(30 * 24 * time.Hour))
		Expect(pc.Status.IssuedAt.Time).To(BeTemporally("==", fakeClock.Now().Truncate(time.Second)))
		Expect(pc.Status.RenewalTime).To(BeNil(), "Manual rotation has no renewal")

		s := secretOf(Default, ns, "jane-api-key")
		Expect(s.Data).To(HaveKey(passcodesecret.KeyPasscode))
		Expect(string(s.Data[passcodesecret.KeyEmail])).To(Equal("jane@example.com"))
		Expect(string(s.Data[passcodesecret.KeyAccount])).To(Equal(ns))
		Expect(string(s.Data[passcodesecret.KeyExpiresAt])).To(Equal(pc.Status.ExpiresAt.UTC().Format(time.RFC3339)))
		value := string(s.Data[passcodesecret.KeyPasscode])
		Expect(passcode.WellFormed(value)).To(BeTrue())
		Expect(pc.Status.Hash).To(Equal(passcode.Hash(value)))
		Expect(s.Labels).To(HaveKeyWithValue(accessv1alpha1.ManagedByLabel, accessv1alpha1.ManagedByValue))
		Expect(s.Labels).To(HaveKeyWithValue(accessv1alpha1.PasscodeLabel, "jane-api"))
		Expect(s.Labels).To(HaveKeyWithValue("team", "analytics"))
		Expect(s.Annotations).To(HaveKeyWithValue("note", "for the ETL"))
		Expect(s.Annotations).To(HaveKeyWithValue(passcodesecret.RevisionAnnotation, "1"))
		owner := metav1.GetControllerOf(s)
		Expect(owner).NotTo(BeNil())
		Expect(owner.UID).To(Equal(pc.UID))
		Expect(*owner.BlockOwnerDeletion).To(BeTrue(), "the owner reference is what makes the garbage collector delete the Secret")
		Expect(s.ManagedFields).To(ConsistOf(HaveField("Operation", metav1.ManagedFieldsOperationApply)),
			"one server-side apply made the Secret, so the operator can remove any key it wrote later")
	})

	It("creates a Secret only while none of its name exists, on the real API server", func() {
		createUser(ns, "kim")
		createPasscode(ns, "kim-api", "kim", "30d", func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = "kim-taken" })
		Eventually(func(g Gomega) string { return readyReason(getPasscode(g, ns, "kim-api")) }).Should(Equal("True/Issued"))
		pc := getPasscode(Default, ns, "kim-api")
		pc.Spec.SecretName = "raced"
		list := &corev1.SecretList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		// Someone creates the Secret after the operator's live read found none.
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "raced"},
			StringData: map[string]string{"token": "theirs"}})).To(Succeed())
		err := passcodesecret.Create(ctx, k8sClient, k8sClient, pc, passcodesecret.Contents{Passcode: passcode.Generate(),
			Email: "kim@example.com", ExpiresAt: fakeClock.Now().Add(time.Hour), Revision: 2}, list.ResourceVersion)
		Expect(err).To(MatchError(passcodesecret.ErrNotOurs))
		theirs := secretOf(Default, ns, "raced")
		Expect(theirs.Data).To(Equal(map[string][]byte{"token": []byte("theirs")}))
		Expect(theirs.OwnerReferences).To(BeEmpty())
	})

	It("expires at expiresAt (fake clock) and wipes the passcode from the Secret", func() {
		createUser(ns, "jane")
		createPasscode(ns, "short", "jane", "2h")
		pc := waitForPasscode(ns, "short", inPhase(accessv1alpha1.PasscodeActive, 1))
		Expect(secretOf(Default, ns, "short").Data).To(HaveKey(passcodesecret.KeyPasscode))

		fakeClock.SetTime(pc.Status.ExpiresAt.Add(-time.Second))
		poke(pc)
		Consistently(func(g Gomega) accessv1alpha1.PasscodePhase { return getPasscode(g, ns, "short").Status.Phase }).
			WithTimeout(time.Second).Should(Equal(accessv1alpha1.PasscodeActive), "one second before expiresAt it still works")

		fakeClock.SetTime(pc.Status.ExpiresAt.Time)
		poke(pc)
		pc = waitForPasscode(ns, "short", inPhase(accessv1alpha1.PasscodeExpired, 1))
		Expect(readyReason(pc)).To(Equal("False/Expired"))
		s := secretOf(Default, ns, "short")
		Expect(s.Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Expect(s.Data).To(HaveKey(passcodesecret.KeyEmail), "the rest of the Secret stays for the workloads")
		// The expiry is told by status and the passcode.expired notification, not by an Event (one
		// write less for each of a burst of expiries).
		Consistently(func(g Gomega) []string { return eventReasons(g, ns, "short") }).WithTimeout(time.Second).
			ShouldNot(ContainElement(accessv1alpha1.ReasonExpired))
	})

	It("rotates automatically with grace: two valid hashes, then one", func() {
		createUser(ns, "jane")
		createPasscode(ns, "auto", "jane", "30d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "10d", GracePeriod: "1h"}
		})
		pc := waitForPasscode(ns, "auto", inPhase(accessv1alpha1.PasscodeActive, 1))
		Expect(pc.Status.RenewalTime.Time).To(Equal(pc.Status.ExpiresAt.Add(-10 * 24 * time.Hour)))
		first := string(secretOf(Default, ns, "auto").Data[passcodesecret.KeyPasscode])

		fakeClock.SetTime(pc.Status.RenewalTime.Time)
		poke(pc)
		pc = waitForPasscode(ns, "auto", inPhase(accessv1alpha1.PasscodeActive, 2))
		second := string(secretOf(Default, ns, "auto").Data[passcodesecret.KeyPasscode])
		Expect(second).NotTo(Equal(first))
		Expect(passcode.Matches(second, pc.Status.Hash)).To(BeTrue())
		Expect(pc.Status.Previous).NotTo(BeNil())
		Expect(passcode.Matches(first, pc.Status.Previous.Hash)).To(BeTrue(), "the previous passcode keeps working during the grace period")
		Expect(pc.Status.Previous.ValidUntil.Time).To(Equal(fakeClock.Now().Add(time.Hour).Truncate(time.Second)))
		Expect(readyReason(pc)).To(Equal("True/Rotated"))

		fakeClock.SetTime(pc.Status.Previous.ValidUntil.Time)
		poke(pc)
		Eventually(func(g Gomega) *accessv1alpha1.PreviousPasscode { return getPasscode(g, ns, "auto").Status.Previous }).Should(BeNil())
		Expect(getPasscode(Default, ns, "auto").Status.Revision).To(Equal(int64(2)), "dropping the previous hash is no rotation")
	})

	It("resets once per annotation value, so a GitOps re-apply does nothing", func() {
		createUser(ns, "jane")
		createPasscode(ns, "reset", "jane", "1h")
		pc := waitForPasscode(ns, "reset", inPhase(accessv1alpha1.PasscodeActive, 1))
		issued := pc.Status.IssuedAt.Time

		fakeClock.Step(10 * time.Minute)
		requestReset(pc, "2026-01-01T12:10:00Z")
		pc = waitForPasscode(ns, "reset", inPhase(accessv1alpha1.PasscodeActive, 2))
		Expect(pc.Status.LastResetRequestedAt).To(Equal("2026-01-01T12:10:00Z"))
		Expect(pc.Status.IssuedAt.Time).To(BeTemporally(">", issued), "a reset starts a fresh tenure")
		Expect(pc.Status.ExpiresAt.Sub(pc.Status.IssuedAt.Time)).To(Equal(time.Hour))

		// Re-applying the same value (other annotations change around it) does nothing: a longer
		// tenure (which applies from the next issue) is the barrier that proves the controller saw it.
		requestReset(pc, "2026-01-01T12:10:00Z")
		poke(pc)
		pc = reconciledAfter[accessv1alpha1.Passcode](ns, "reset", func(pc *accessv1alpha1.Passcode) { pc.Spec.Tenure = "2h" },
			func(pc *accessv1alpha1.Passcode) int64 { return pc.Status.ObservedGeneration })
		Expect(pc.Status.Revision).To(Equal(int64(2)), "the same reset value was carried out again")
		Expect(pc.Status.ExpiresAt.Sub(pc.Status.IssuedAt.Time)).To(Equal(time.Hour), "a longer tenure applies from the next issue")
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "reset") }).Should(ContainElement(accessv1alpha1.ReasonReset))
	})

	It("repairs a deleted Secret and an edited passcode with a fresh one, and metadata drift without one", func() {
		createUser(ns, "jane")
		createPasscode(ns, "repair", "jane", "1h")
		waitForPasscode(ns, "repair", inPhase(accessv1alpha1.PasscodeActive, 1))

		Expect(k8sClient.Delete(ctx, secretOf(Default, ns, "repair"))).To(Succeed())
		pc := waitForPasscode(ns, "repair", inPhase(accessv1alpha1.PasscodeActive, 2))
		Expect(passcode.Matches(string(secretOf(Default, ns, "repair").Data[passcodesecret.KeyPasscode]), pc.Status.Hash)).To(BeTrue())
		Expect(readyReason(pc)).To(Equal("True/Repaired"))

		s := secretOf(Default, ns, "repair")
		s.Data[passcodesecret.KeyPasscode] = []byte("dpc_CHOSENBYSOMEONEWHOSHOULDNT")
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		pc = waitForPasscode(ns, "repair", inPhase(accessv1alpha1.PasscodeActive, 3))
		Expect(string(secretOf(Default, ns, "repair").Data[passcodesecret.KeyPasscode])).NotTo(Equal("dpc_CHOSENBYSOMEONEWHOSHOULDNT"))

		s = secretOf(Default, ns, "repair")
		value := string(s.Data[passcodesecret.KeyPasscode])
		patch := []byte(`{"metadata":{"labels":{"team":"x","access.dashboardops.io/passcode":null},"ownerReferences":null}}`)
		Expect(k8sClient.Patch(ctx, s, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		// Unlabelled, the Secret left the cache; the live read finds it, and it is ours by its owner... or not:
		// without label and owner it is a stranger's Secret and must not be written.
		Eventually(func(g Gomega) string { return readyReason(getPasscode(g, ns, "repair")) }).Should(Equal("False/SecretConflict"))
		Expect(string(secretOf(Default, ns, "repair").Data[passcodesecret.KeyPasscode])).To(Equal(value))

		// Give it back its label: the operator restores the owner reference, without rotating.
		patch = []byte(`{"metadata":{"labels":{"access.dashboardops.io/passcode":"repair"}}}`)
		Expect(k8sClient.Patch(ctx, s, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		poke(pc)
		Eventually(func(g Gomega) {
			s := secretOf(g, ns, "repair")
			g.Expect(metav1.GetControllerOf(s)).NotTo(BeNil())
			g.Expect(s.Labels).To(HaveKeyWithValue("team", "x"), "labels the operator does not own stay")
		}).Should(Succeed())
		waitForPasscode(ns, "repair", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeActive, 3)(g, pc)
			g.Expect(readyReason(pc)).To(HavePrefix("True/"), "the conflict is over")
		})
		Expect(string(secretOf(Default, ns, "repair").Data[passcodesecret.KeyPasscode])).To(Equal(value))
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "repair") }).Should(ContainElement(accessv1alpha1.ReasonRepaired))
	})

	It("refuses to write into a Secret that belongs to someone else", func() {
		createUser(ns, "jane")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
			StringData: map[string]string{"password": "theirs"}})).To(Succeed())
		createPasscode(ns, "conflict", "jane", "1h", func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = "taken" })
		pc := waitForPasscode(ns, "conflict", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(readyReason(pc)).To(Equal("False/SecretConflict"))
		})
		Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodePending))
		s := secretOf(Default, ns, "taken")
		Expect(s.Data).To(Equal(map[string][]byte{"password": []byte("theirs")}))
	})

	It("is revoked when its user's access is revoked, refuses a reset then, and is granted again by one after", func() {
		u := createUser(ns, "jane")
		createPasscode(ns, "rev", "jane", "1h")
		waitForPasscode(ns, "rev", inPhase(accessv1alpha1.PasscodeActive, 1))

		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		pc := waitForPasscode(ns, "rev", inPhase(accessv1alpha1.PasscodeRevoked, 1))
		Expect(readyReason(pc)).To(Equal("False/Revoked"))
		Expect(secretOf(Default, ns, "rev").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))

		requestReset(pc, "2026-02-01T00:00:00Z")
		pc = waitForPasscode(ns, "rev", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.LastResetRequestedAt).To(Equal("2026-02-01T00:00:00Z"))
		})
		Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeRevoked))
		Expect(apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("Reset refused"))

		// Granting access again revives nothing...
		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessGranted })
		Consistently(func(g Gomega) accessv1alpha1.PasscodePhase { return getPasscode(g, ns, "rev").Status.Phase }).
			WithTimeout(time.Second).Should(Equal(accessv1alpha1.PasscodeRevoked))
		// ...a reset does.
		requestReset(pc, "2026-02-01T00:05:00Z")
		waitForPasscode(ns, "rev", inPhase(accessv1alpha1.PasscodeActive, 2))
		Expect(secretOf(Default, ns, "rev").Data).To(HaveKey(passcodesecret.KeyPasscode))
	})

	It("is revoked when its user is deleted, and when spec.revoked is set", func() {
		u := createUser(ns, "jane")
		createPasscode(ns, "gone", "jane", "1h")
		pc := createPasscode(ns, "stop", "jane", "1h")
		waitForPasscode(ns, "gone", inPhase(accessv1alpha1.PasscodeActive, 1))
		waitForPasscode(ns, "stop", inPhase(accessv1alpha1.PasscodeActive, 1))

		update(pc, func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true })
		waitForPasscode(ns, "stop", inPhase(accessv1alpha1.PasscodeRevoked, 1))
		Expect(secretOf(Default, ns, "stop").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))

		// Orphaned (kubectl delete --cascade=orphan), so the Passcode outlives its user: revoked.
		Expect(k8sClient.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		waitForPasscode(ns, "gone", inPhase(accessv1alpha1.PasscodeRevoked, 1))
		Expect(secretOf(Default, ns, "gone").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "gone") }).Should(ContainElement(accessv1alpha1.ReasonRevoked))
	})

	It("waits for a user that does not exist yet, and is issued when it appears", func() {
		createPasscode(ns, "early", "later", "1h")
		pc := waitForPasscode(ns, "early", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(readyReason(pc)).To(Equal("False/UserNotFound"))
		})
		Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodePending))
		createUser(ns, "later")
		waitForPasscode(ns, "early", inPhase(accessv1alpha1.PasscodeActive, 1))
	})

	It("never lets a passcode reach an Event, a condition, a status, an annotation or a log line", func() {
		// Drive one passcode through every transition, reading each passcode it gets.
		u := createUser(ns, "leak")
		createPasscode(ns, "leak", "leak", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "30m", GracePeriod: "10m"}
		})
		pc := waitForPasscode(ns, "leak", inPhase(accessv1alpha1.PasscodeActive, 1))
		secretOf(Default, ns, "leak")
		fakeClock.SetTime(pc.Status.RenewalTime.Time)
		poke(pc)
		waitForPasscode(ns, "leak", inPhase(accessv1alpha1.PasscodeActive, 2))
		secretOf(Default, ns, "leak")
		requestReset(pc, "2026-03-01T00:00:00Z")
		waitForPasscode(ns, "leak", inPhase(accessv1alpha1.PasscodeActive, 3))
		Expect(k8sClient.Delete(ctx, secretOf(Default, ns, "leak"))).To(Succeed())
		waitForPasscode(ns, "leak", inPhase(accessv1alpha1.PasscodeActive, 4))
		secretOf(Default, ns, "leak")
		update(u, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		waitForPasscode(ns, "leak", inPhase(accessv1alpha1.PasscodeRevoked, 4))

		var secrets []string
		seenPasscodes.Range(func(k, _ any) bool { secrets = append(secrets, k.(string)); return true })
		Expect(len(secrets)).To(BeNumerically(">=", 3))

		var haystack strings.Builder
		pcs := &accessv1alpha1.PasscodeList{}
		Expect(k8sClient.List(ctx, pcs)).To(Succeed())
		users := &accessv1alpha1.DashboardUserList{}
		Expect(k8sClient.List(ctx, users)).To(Succeed())
		evs := &eventsv1.EventList{}
		Expect(k8sClient.List(ctx, evs)).To(Succeed())
		coreEvs := &corev1.EventList{}
		Expect(k8sClient.List(ctx, coreEvs)).To(Succeed())
		for _, obj := range []any{pcs, users, evs, coreEvs} {
			b, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			haystack.Write(b)
		}
		Expect(evs.Items).NotTo(BeEmpty())
		haystack.WriteString(managerLogs.String())
		for _, s := range secrets {
			Expect(haystack.String()).NotTo(ContainSubstring(s), "a passcode leaked")
			Expect(haystack.String()).NotTo(ContainSubstring(strings.TrimPrefix(s, passcode.Prefix)), "a passcode leaked")
		}
		// Invite tokens too: the only place they may appear is the delivered invite.
		waitForInvite("leak@example.com", 1)
		tokens := inbox.allTokens()
		Expect(tokens).NotTo(BeEmpty())
		for _, tok := range tokens {
			Expect(haystack.String()).NotTo(ContainSubstring(tok), "an invite token leaked")
		}
	})
})
