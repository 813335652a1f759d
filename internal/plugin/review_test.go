package plugin_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/plugin"
)

// openReview creates an AccessReview and writes the snapshot the operator would take (this suite
// runs no operator: the plugin's part is the decisions and the export).
func openReview(ns, name string, users ...accessv1alpha1.ReviewedUser) *accessv1alpha1.AccessReview {
	GinkgoHelper()
	rv := &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.AccessReviewSpec{Deadline: &metav1.Time{Time: time.Now().Add(24 * time.Hour)}}}
	Expect(k8sClient.Create(ctx, rv)).To(Succeed())
	rv.Status = accessv1alpha1.AccessReviewStatus{Phase: accessv1alpha1.ReviewOpen, SnapshotAt: &metav1.Time{Time: time.Now()}, Users: users,
		Total: int32(len(users)), Undecided: int32(len(users))} //nolint:gosec // a handful
	Expect(k8sClient.Status().Update(ctx, rv)).To(Succeed())
	return rv
}

func reviewed(name, role string) accessv1alpha1.ReviewedUser {
	return accessv1alpha1.ReviewedUser{Name: name, Email: name + "@example.com", Role: role, Status: accessv1alpha1.UserActive}
}

// getQ4 reads the review every spec here decides in.
func getQ4(ns string) *accessv1alpha1.AccessReview {
	GinkgoHelper()
	rv := &accessv1alpha1.AccessReview{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "q4"}, rv)).To(Succeed())
	return rv
}

var _ = Describe("review", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("records decisions with who made them (as the API server knows them) and when, replacing an earlier one", func() {
		openReview(ns, "q4", reviewed("alice", "Admin"), reviewed("bob", "Member"))
		r := run("review", "decide", "q4", "alice@example.com", "bob", "--keep", "-n", ns).succeed()
		Expect(r.Out).To(Equal("accessreview/q4: alice@example.com decided Keep\naccessreview/q4: bob@example.com decided Keep\n"))
		run("review", "decide", "q4", "bob@example.com", "--revoke", "--reason", "left the team", "-n", ns).succeed()
		rv := getQ4(ns)
		Expect(rv.Spec.Decisions).To(HaveLen(2))
		Expect(rv.Spec.Decisions[0]).To(And(HaveField("Email", "alice@example.com"), HaveField("Decision", accessv1alpha1.ReviewKeep),
			HaveField("DecidedBy", "admin")))
		Expect(rv.Spec.Decisions[0].DecidedAt.Time).To(BeTemporally("~", time.Now(), time.Minute))
		Expect(rv.Spec.Decisions[1]).To(And(HaveField("Email", "bob@example.com"), HaveField("Decision", accessv1alpha1.ReviewRevoke),
			HaveField("Reason", "left the team"), HaveField("DecidedBy", "admin")))

		By("--dry-run=client and server write nothing")
		run("review", "decide", "q4", "alice@example.com", "--revoke", "-n", ns, "--dry-run=server").succeed()
		Expect(getQ4(ns).Spec.Decisions[0].Decision).To(Equal(accessv1alpha1.ReviewKeep))
	})

	It("refuses bad input before writing, naming it (exit code 2), and what cannot be decided any more", func() {
		openReview(ns, "q4", reviewed("alice", "Admin"))
		run("review", "decide", "q4", "alice@example.com", "-n", ns).fail(plugin.ExitUsage, "exactly one of --keep or --revoke")
		run("review", "decide", "q4", "alice@example.com", "--keep", "--revoke", "-n", ns).fail(plugin.ExitUsage, "exactly one of --keep or --revoke")
		run("review", "decide", "q4", "--keep", "-n", ns).fail(plugin.ExitUsage, "expects REVIEW and at least one EMAIL")
		run("review", "decide", "q4", "alice@example.com", "zed@example.com", "--keep", "-n", ns).
			fail(plugin.ExitUsage, `no user "zed@example.com" in access review "q4" (it covers 1 users; one created after`)
		run("review", "decide", "q4", "alice@example.com", "--keep", "--reason", "two\nlines", "-n", ns).fail(plugin.ExitUsage, "--reason:", "control characters")
		run("review", "decide", "nope", "alice@example.com", "--keep", "-n", ns).fail(plugin.ExitAPIError, `access review "nope" not found in namespace "`+ns+`"`)
		Expect(getQ4(ns).Spec.Decisions).To(BeEmpty(), "nothing was written")

		rv := getQ4(ns)
		rv.Status.Phase, rv.Status.CompletedAt = accessv1alpha1.ReviewCompleted, &metav1.Time{Time: time.Now()}
		Expect(k8sClient.Status().Update(ctx, rv)).To(Succeed())
		run("review", "decide", "q4", "alice@example.com", "--keep", "-n", ns).fail(plugin.ExitUsage, `access review "q4" completed at`, "final")

		Expect(k8sClient.Create(ctx, &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quarterly"},
			Spec: accessv1alpha1.AccessReviewSpec{Schedule: "@monthly", Duration: "14d"}})).To(Succeed())
		run("review", "decide", "quarterly", "alice@example.com", "--keep", "-n", ns).fail(plugin.ExitUsage, "is a schedule", "decide in the reviews it creates")
		run("review", "export", "q4", "-o", "json", "-n", ns).fail(plugin.ExitUsage, `-o/--output "json"`, "csv")
	})

	It("exports the evidence and the changes since the previous completed review as CSV", func() {
		prev := openReview(ns, "q3", reviewed("alice", "Member"), reviewed("carol", "Member"))
		prev.Status.Phase, prev.Status.CompletedAt = accessv1alpha1.ReviewCompleted, &metav1.Time{Time: time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)}
		Expect(k8sClient.Status().Update(ctx, prev)).To(Succeed())

		login := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
		used := metav1.NewTime(time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC))
		alice := reviewed("alice", "Admin")
		alice.DisplayName, alice.LastLoginAt = "=HYPERLINK(\"x\")", &login
		alice.Passcodes = []accessv1alpha1.ReviewedPasscode{{Name: "alice-api", LastUsedAt: &used}}
		rv := openReview(ns, "q4", alice, reviewed("bob", "Member"))
		rv.Status.PreviousReview = "q3"
		Expect(k8sClient.Status().Update(ctx, rv)).To(Succeed())
		run("review", "decide", "q4", "alice@example.com", "--keep", "--reason", "on call", "-n", ns).succeed()

		By("open: the decisions so far")
		out := run("review", "export", "q4", "-o", "csv", "-n", ns).succeed().Out
		Expect(out).To(MatchRegexp(`^User,Name,Email,Role,User Status,Last Login,Last Passcode Use,Decision,Decided By,Decided At,Reason,Outcome\n` +
			`alice,"'=HYPERLINK\(""x""\)",alice@example.com,Admin,Active,2026-12-01T10:00:00Z,2026-12-02T11:00:00Z,Keep,admin,20\d\d-[-0-9T:]+Z,on call,\n` +
			`bob,,bob@example.com,Member,Active,,,\(undecided\),,,,\n` +
			`\n` +
			`Change,User,Email,Previous Role,Role\n` +
			`Role changed,alice,alice@example.com,Member,Admin\n` +
			`Added,bob,bob@example.com,,Member\n` +
			`Removed,carol,carol@example.com,Member,\n$`))

		By("completed: what was carried out, the default decision named")
		rv = getQ4(ns)
		rv.Status.Phase, rv.Status.CompletedAt = accessv1alpha1.ReviewCompleted, &metav1.Time{Time: time.Now()}
		rv.Status.Users[0].Decision, rv.Status.Users[0].Outcome, rv.Status.Users[0].DecidedBy = accessv1alpha1.ReviewKeep, accessv1alpha1.OutcomeKept, "admin"
		rv.Status.Users[1].Decision, rv.Status.Users[1].Outcome = accessv1alpha1.ReviewRevoke, accessv1alpha1.OutcomeRevoked
		Expect(k8sClient.Status().Update(ctx, rv)).To(Succeed())
		out = run("review", "export", "q4", "-n", ns).succeed().Out
		Expect(out).To(ContainSubstring("\nbob,,bob@example.com,Member,Active,,,Revoke,(default decision),,,Revoked\n"))
		Expect(out).To(ContainSubstring(",Keep,admin,,,Kept\n"))

		By("the first review has nothing to compare with")
		openReview(ns, "first", reviewed("dan", "Member"))
		Expect(run("review", "export", "first", "-n", ns).succeed().Out).To(HaveSuffix("Change,User,Email,Previous Role,Role\nNo previous completed review,,,,\n"))
	})
})
