package admission

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Confused deputy: an access review revokes users with the operator's rights at its deadline, so
// only someone who may revoke users (patch dashboardusers) may create one or change its decisions.
func TestAccessReviewsNeedTheRightToRevoke(t *testing.T) {
	ns := newNamespace(t, "review")
	editReviews := rbacv1.PolicyRule{APIGroups: []string{"access.dashboardops.io"}, Resources: []string{"accessreviews"},
		Verbs: []string{"get", "list", "create", "update", "patch"}}
	// dora may edit reviews only; lead may also patch users (an admin of the project).
	grant(t, ns, "dora", editReviews)
	grant(t, ns, "lead", editReviews, editPasscodes)
	review := func(name string) *accessv1alpha1.AccessReview {
		return &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.AccessReviewSpec{Deadline: &metav1.Time{Time: time.Now().Add(time.Hour)}}}
	}
	want := "spec: an access review revokes users at its deadline, so creating one or changing its decisions needs patch on " +
		"dashboardusers (access.dashboardops.io) in namespace " + ns + ", which dora may not do"
	dora, lead := as("dora"), as("lead")
	refused(t, dora.Create(ctx, review("by-dora")), want)
	accepted(t, lead.Create(ctx, review("by-lead")), "lead creates a review")

	rv := &accessv1alpha1.AccessReview{}
	if err := dora.Get(ctx, client.ObjectKey{Namespace: ns, Name: "by-lead"}, rv); err != nil {
		t.Fatal(err)
	}
	decided := rv.DeepCopy()
	decided.Spec.Decisions = []accessv1alpha1.AccessReviewDecision{{Email: "jane@example.com", Decision: accessv1alpha1.ReviewRevoke}}
	refused(t, dora.Update(ctx, decided), want)
	labelled := rv.DeepCopy()
	labelled.Labels = map[string]string{"quarter": "q4"}
	accepted(t, dora.Update(ctx, labelled), "dora labels a review (its spec unchanged)")
	if err := lead.Get(ctx, client.ObjectKey{Namespace: ns, Name: "by-lead"}, rv); err != nil {
		t.Fatal(err)
	}
	rv.Spec.Decisions = decided.Spec.Decisions
	accepted(t, lead.Update(ctx, rv), "lead decides")
}
