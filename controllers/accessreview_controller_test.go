package controllers_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
)

func createReview(ns, name string, deadline time.Time, mods ...func(*accessv1alpha1.AccessReview)) *accessv1alpha1.AccessReview {
	rv := &accessv1alpha1.AccessReview{ObjectMeta: metaName(ns, name),
		Spec: accessv1alpha1.AccessReviewSpec{Deadline: &metav1.Time{Time: deadline}}}
	for _, m := range mods {
		m(rv)
	}
	Expect(k8sClient.Create(ctx, rv)).To(Succeed())
	return rv
}

func reviewPhase(phase accessv1alpha1.AccessReviewPhase) func(Gomega, *accessv1alpha1.AccessReview) {
	return func(g Gomega, rv *accessv1alpha1.AccessReview) {
		g.Expect(rv.Status.Phase).To(Equal(phase))
		g.Expect(rv.Status.ObservedGeneration).To(Equal(rv.Generation))
	}
}

func reviewReady(rv *accessv1alpha1.AccessReview) *metav1.Condition {
	return apimeta.FindStatusCondition(rv.Status.Conditions, accessv1alpha1.ConditionReady)
}

func decide(rv *accessv1alpha1.AccessReview, ds ...accessv1alpha1.AccessReviewDecision) {
	update(rv, func(rv *accessv1alpha1.AccessReview) { rv.Spec.Decisions = append(rv.Spec.Decisions, ds...) })
}

func outcomes(rv *accessv1alpha1.AccessReview) map[string]string {
	out := map[string]string{}
	for _, u := range rv.Status.Users {
		out[u.Email] = string(u.Decision) + "/" + string(u.Outcome)
	}
	return out
}

func access(ns, name string) accessv1alpha1.Access {
	var a accessv1alpha1.Access
	Eventually(func(g Gomega) {
		a = get[accessv1alpha1.DashboardUser](g, ns, name).Spec.Access
	}).Should(Succeed())
	return a
}

var _ = Describe("AccessReview", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("records every user, counts decisions, revokes the Revoke and the undecided at the deadline, and keeps the evidence", func() {
		createUserWithRole(ns, "alice", accessv1alpha1.RoleAdmin)
		createUser(ns, "bob")
		createUser(ns, "carol")
		dave := createUser(ns, "dave")
		update(dave, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
		createPasscode(ns, "alice-api", "alice", "30d")
		waitForPasscode(ns, "alice-api", inPhase(accessv1alpha1.PasscodeActive, 1))

		deadline := fakeClock.Now().Add(7 * 24 * time.Hour).Truncate(time.Second)
		createReview(ns, "q4", deadline, func(rv *accessv1alpha1.AccessReview) {
			rv.Spec.Reviewers = []string{"lead@example.com"}
		})
		rv := waitUntil(ns, "q4", reviewPhase(accessv1alpha1.ReviewOpen))
		Expect(rv.Spec.DefaultDecision).To(Equal(accessv1alpha1.ReviewRevoke), "Revoke is the default")
		Expect(rv.Status.Total).To(Equal(int32(4)))
		Expect(rv.Status.Undecided).To(Equal(int32(4)))
		emails := make([]string, 0, len(rv.Status.Users))
		for _, u := range rv.Status.Users {
			emails = append(emails, u.Email)
		}
		Expect(emails).To(Equal([]string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}))
		Expect(rv.Status.Users[0].Role).To(Equal("Admin"))
		Expect(rv.Status.Users[0].Passcodes).To(HaveLen(1))
		Expect(rv.Status.Users[0].Passcodes[0].Name).To(Equal("alice-api"))
		Expect(rv.Status.Users[3].Status).To(Equal(accessv1alpha1.UserRevoked))

		By("a user created after the snapshot is not in this review")
		createUser(ns, "erin")
		poke(rv)

		By("decisions, one for an email the review does not hold")
		at := metav1.NewTime(fakeClock.Now().Truncate(time.Second))
		decide(rv,
			accessv1alpha1.AccessReviewDecision{Email: "alice@example.com", Decision: accessv1alpha1.ReviewKeep, DecidedBy: "lead@example.com", DecidedAt: &at},
			accessv1alpha1.AccessReviewDecision{Email: "bob@example.com", Decision: accessv1alpha1.ReviewRevoke, Reason: "left the team", DecidedBy: "lead@example.com", DecidedAt: &at},
			accessv1alpha1.AccessReviewDecision{Email: "zed@example.com", Decision: accessv1alpha1.ReviewKeep})
		rv = waitUntil(ns, "q4", func(g Gomega, rv *accessv1alpha1.AccessReview) {
			g.Expect(rv.Status.Decided).To(Equal(int32(2)))
			g.Expect(rv.Status.Undecided).To(Equal(int32(2)))
			g.Expect(rv.Status.UnknownDecisions).To(Equal([]string{"zed@example.com"}))
		})
		Expect(rv.Status.Total).To(Equal(int32(4)), "erin joined after the snapshot")
		Expect(reviewReady(rv).Message).To(ContainSubstring("zed@example.com"))
		Expect(reviewReady(rv).Message).To(ContainSubstring("2 decided, 2 undecided"))

		By("one second before the deadline nothing is revoked")
		fakeClock.SetTime(deadline.Add(-time.Second))
		poke(rv)
		Consistently(func() accessv1alpha1.Access { return access(ns, "carol") }).WithTimeout(time.Second).Should(Equal(accessv1alpha1.AccessGranted))

		By("at the deadline")
		fakeClock.SetTime(deadline)
		poke(rv)
		rv = waitUntil(ns, "q4", reviewPhase(accessv1alpha1.ReviewCompleted))
		Expect(outcomes(rv)).To(Equal(map[string]string{
			"alice@example.com": "Keep/Kept", "bob@example.com": "Revoke/Revoked",
			"carol@example.com": "Revoke/Revoked", "dave@example.com": "Revoke/AlreadyRevoked"}))
		Expect(rv.Status.Users[1].Reason).To(Equal("left the team"))
		Expect(rv.Status.Users[1].DecidedBy).To(Equal("lead@example.com"))
		Expect(rv.Status.Users[2].DecidedBy).To(BeEmpty(), "carol got the default decision")
		Expect(rv.Status.Kept).To(Equal(int32(1)))
		Expect(rv.Status.Revoked).To(Equal(int32(2)))
		Expect(rv.Status.CompletedAt.Time).To(BeTemporally("==", deadline))
		Expect(access(ns, "alice")).To(Equal(accessv1alpha1.AccessGranted))
		Expect(access(ns, "erin")).To(Equal(accessv1alpha1.AccessGranted))
		for _, name := range []string{"bob", "carol"} {
			Expect(access(ns, name)).To(Equal(accessv1alpha1.AccessRevoked))
			u := get[accessv1alpha1.DashboardUser](Default, ns, name)
			Expect(u.Annotations).To(HaveKeyWithValue(controllers.RevokedByAnnotation, "accessreview/q4"))
		}
		Eventually(func(g Gomega) []string { return warningsAbout(g, "DashboardUser", ns, "carol") }).WithTimeout(10 * time.Second).Should(ContainElement(
			ContainSubstring("Access revoked by access review q4 (undecided at the deadline: the default decision)")))
		Eventually(func(g Gomega) []string { return warningsAbout(g, "DashboardUser", ns, "bob") }).WithTimeout(10 * time.Second).Should(ContainElement(
			ContainSubstring("decided Revoke by lead@example.com")))
		Eventually(func(g Gomega) *accessv1alpha1.DashboardUser { return get[accessv1alpha1.DashboardUser](g, ns, "carol") }).
			Should(HaveField("Status.Phase", accessv1alpha1.UserRevoked), "the user controller revokes as for any revocation")

		By("the evidence is final: a decision changed afterwards changes nothing")
		decide(rv, accessv1alpha1.AccessReviewDecision{Email: "carol@example.com", Decision: accessv1alpha1.ReviewKeep})
		Consistently(func(g Gomega) map[string]string { return outcomes(get[accessv1alpha1.AccessReview](g, ns, "q4")) }).
			WithTimeout(time.Second).Should(HaveKeyWithValue("carol@example.com", "Revoke/Revoked"))
	})

	It("keeps the undecided with defaultDecision Keep, and never revokes a user deleted and created again", func() {
		createUser(ns, "ann")
		createUser(ns, "ben")
		createUser(ns, "cal")
		deadline := fakeClock.Now().Add(24 * time.Hour).Truncate(time.Second)
		rv := createReview(ns, "keep", deadline, func(rv *accessv1alpha1.AccessReview) { rv.Spec.DefaultDecision = accessv1alpha1.ReviewKeep })
		waitUntil(ns, "keep", reviewPhase(accessv1alpha1.ReviewOpen))
		decide(rv, accessv1alpha1.AccessReviewDecision{Email: "cal@example.com", Decision: accessv1alpha1.ReviewRevoke})
		waitUntil(ns, "keep", func(g Gomega, rv *accessv1alpha1.AccessReview) { g.Expect(rv.Status.Decided).To(Equal(int32(1))) })

		By("cal is deleted and created again: a new user, not the one reviewed")
		Expect(k8sClient.Delete(ctx, get[accessv1alpha1.DashboardUser](Default, ns, "cal"))).To(Succeed())
		Eventually(func() bool {
			return client.IgnoreNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cal"}, &accessv1alpha1.DashboardUser{})) == nil &&
				k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cal"}, &accessv1alpha1.DashboardUser{}) != nil
		}).Should(BeTrue())
		createUser(ns, "cal")
		Expect(k8sClient.Delete(ctx, get[accessv1alpha1.DashboardUser](Default, ns, "ben"))).To(Succeed())

		fakeClock.SetTime(deadline.Add(time.Minute))
		poke(rv)
		rv = waitUntil(ns, "keep", reviewPhase(accessv1alpha1.ReviewCompleted))
		Expect(outcomes(rv)).To(Equal(map[string]string{
			"ann@example.com": "Keep/Kept", "ben@example.com": "Keep/Removed", "cal@example.com": "Revoke/Removed"}))
		Expect(access(ns, "ann")).To(Equal(accessv1alpha1.AccessGranted))
		Expect(access(ns, "cal")).To(Equal(accessv1alpha1.AccessGranted), "the new cal was never reviewed")
		Expect(reviewReady(rv).Message).To(Equal("Completed: 1 kept, 0 revoked, 2 already revoked or removed"))
	})

	It("covers only the users its selector matches", func() {
		a := createUser(ns, "ops1")
		update(a, func(u *accessv1alpha1.DashboardUser) { u.Labels = map[string]string{"team": "ops"} })
		createUser(ns, "dev1")
		createReview(ns, "ops", fakeClock.Now().Add(time.Hour), func(rv *accessv1alpha1.AccessReview) {
			rv.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ops"}}
		})
		rv := waitUntil(ns, "ops", reviewPhase(accessv1alpha1.ReviewOpen))
		Expect(outcomes(rv)).To(HaveLen(1))
		Expect(outcomes(rv)).To(HaveKey("ops1@example.com"))
	})

	It("creates reviews on its schedule, each open for spec.duration", func() {
		createUser(ns, "kim")
		start := fakeClock.Now()
		series := &accessv1alpha1.AccessReview{ObjectMeta: metaName(ns, "quarterly"), Spec: accessv1alpha1.AccessReviewSpec{
			Schedule: "0 9 * * *", Duration: "3d", Reviewers: []string{"lead@example.com"}, DefaultDecision: accessv1alpha1.ReviewKeep}}
		Expect(k8sClient.Create(ctx, series)).To(Succeed())
		series = waitUntil(ns, "quarterly", reviewPhase(accessv1alpha1.ReviewScheduled))
		// (The fake clock may be ahead of the API server's creationTimestamp, so a tick in between may
		// already have made a review, as a CronJob makes its latest missed run.)
		next := series.Status.NextScheduleTime.Time
		Expect(next.After(start)).To(BeTrue())
		Expect(next.UTC().Hour()).To(Equal(9))
		Expect(next.UTC().Minute()).To(Equal(0))

		fakeClock.SetTime(next.Add(30 * time.Second))
		poke(series)
		name := "quarterly-" + next.UTC().Format("20060102-1504")
		series = waitUntil(ns, "quarterly", func(g Gomega, s *accessv1alpha1.AccessReview) { g.Expect(s.Status.LastCreated).To(Equal(name)) })
		Expect(series.Status.NextScheduleTime.Time).To(BeTemporally("==", next.Add(24*time.Hour)))
		child := waitUntil(ns, name, reviewPhase(accessv1alpha1.ReviewOpen))
		Expect(child.Spec.Deadline.Time).To(BeTemporally("==", next.Add(72*time.Hour)))
		Expect(child.Spec.Reviewers).To(Equal([]string{"lead@example.com"}))
		Expect(child.Spec.DefaultDecision).To(Equal(accessv1alpha1.ReviewKeep))
		Expect(child.Labels).To(HaveKeyWithValue(accessv1alpha1.ReviewSeriesLabel, "quarterly"))
		Expect(child.Status.Total).To(Equal(int32(1)))
		Expect(series.Status.Total).To(BeZero(), "the schedule reviews no one itself")
	})

	It("reports a schedule it cannot read, naming the field", func() {
		Expect(k8sClient.Create(ctx, &accessv1alpha1.AccessReview{ObjectMeta: metaName(ns, "bad"),
			Spec: accessv1alpha1.AccessReviewSpec{Schedule: "every monday", Duration: "1d"}})).To(Succeed())
		rv := waitUntil(ns, "bad", reviewPhase(accessv1alpha1.ReviewInvalid))
		Expect(reviewReady(rv).Reason).To(Equal(accessv1alpha1.ReasonInvalidSpec))
		Expect(reviewReady(rv).Message).To(HavePrefix("spec.schedule: "))
		Expect(reviewReady(rv).Message).To(ContainSubstring("five fields"))
	})

	It("refuses at apply what cannot be a review, naming the field", func() {
		deadline := metav1.NewTime(fakeClock.Now().Add(time.Hour))
		for _, c := range []struct {
			spec accessv1alpha1.AccessReviewSpec
			want string
		}{
			{accessv1alpha1.AccessReviewSpec{}, "set either spec.deadline"},
			{accessv1alpha1.AccessReviewSpec{Deadline: &deadline, Schedule: "@weekly", Duration: "7d"}, "set either spec.deadline"},
			{accessv1alpha1.AccessReviewSpec{Schedule: "@weekly"}, "spec.duration"},
			{accessv1alpha1.AccessReviewSpec{Schedule: "@weekly", Duration: "1m"}, "must be at least 1h and at most 90d"},
			{accessv1alpha1.AccessReviewSpec{Deadline: &deadline, DefaultDecision: "Maybe"}, `spec.defaultDecision: Unsupported value: "Maybe"`},
			{accessv1alpha1.AccessReviewSpec{Deadline: &deadline, Decisions: []accessv1alpha1.AccessReviewDecision{{Email: "nobody", Decision: accessv1alpha1.ReviewKeep}}},
				`spec.decisions[0].email: Invalid value: "nobody": must be an email address`},
			{accessv1alpha1.AccessReviewSpec{Deadline: &deadline, Decisions: []accessv1alpha1.AccessReviewDecision{{Email: "a@b.c", Decision: "Keep", Reason: "a\nb"}}},
				"must not contain control characters"},
		} {
			err := k8sClient.Create(ctx, &accessv1alpha1.AccessReview{ObjectMeta: metaName(ns, "r"), Spec: c.spec})
			Expect(err).To(HaveOccurred(), "%+v", c.spec)
			Expect(err.Error()).To(ContainSubstring(c.want))
		}
		err := k8sClient.Create(ctx, &accessv1alpha1.AccessReview{ObjectMeta: metaName(ns, strings.Repeat("a", 49)),
			Spec: accessv1alpha1.AccessReviewSpec{Schedule: "@weekly", Duration: "7d"}})
		Expect(err).To(MatchError(ContainSubstring("metadata.name of a scheduled review must be at most 48 characters")))
	})
})
