package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestReviewGaugesForOpenReviewsOnlyFromTheLeader(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deadline := metav1.NewTime(time.Unix(1800000000, 0))
	review := func(name string, phase accessv1alpha1.AccessReviewPhase, undecided int32) *accessv1alpha1.AccessReview {
		return &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
			Spec:   accessv1alpha1.AccessReviewSpec{Deadline: &deadline},
			Status: accessv1alpha1.AccessReviewStatus{Phase: phase, Undecided: undecided}}
	}
	series := &accessv1alpha1.AccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "quarterly"},
		Spec: accessv1alpha1.AccessReviewSpec{Schedule: "@monthly", Duration: "14d"}, Status: accessv1alpha1.AccessReviewStatus{Phase: accessv1alpha1.ReviewScheduled}}
	reader := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(review("q4", accessv1alpha1.ReviewOpen, 3), review("q3", accessv1alpha1.ReviewCompleted, 0), review("new", "", 0), series).Build()
	elected := make(chan struct{})
	c := reviewCollector{passcodeCollector{reader: reader, elected: elected}}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("a replica that does not lead exported %d series", n)
	}
	close(elected)
	want := `
# HELP access_operator_access_review_undecided Users of an open AccessReview nobody has decided about yet.
# TYPE access_operator_access_review_undecided gauge
access_operator_access_review_undecided{name="new",namespace="team"} 0
access_operator_access_review_undecided{name="q4",namespace="team"} 3
# HELP access_operator_access_reviews AccessReviews by phase (Open: waiting for decisions and its deadline).
# TYPE access_operator_access_reviews gauge
access_operator_access_reviews{namespace="team",phase="Completed"} 1
access_operator_access_reviews{namespace="team",phase="Open"} 2
access_operator_access_reviews{namespace="team",phase="Scheduled"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "access_operator_access_review_undecided", "access_operator_access_reviews"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "access_operator_access_review_deadline_timestamp_seconds"); n != 2 {
		t.Errorf("deadline series: %d, want 2 (the open reviews; not the completed one, not the schedule)", n)
	}
}

func TestPolicyGaugesSayTheAdminsAndTheirMinimum(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	counted := &accessv1alpha1.DashboardPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "default"},
		Spec:   accessv1alpha1.DashboardPolicySpec{Admins: &accessv1alpha1.AdminPolicy{Minimum: 2}},
		Status: accessv1alpha1.DashboardPolicyStatus{ObservedGeneration: 1, ActiveAdmins: 1}}
	fresh := &accessv1alpha1.DashboardPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "new", Name: "default"},
		Spec: accessv1alpha1.DashboardPolicySpec{Admins: &accessv1alpha1.AdminPolicy{Minimum: 2}}}
	elected := make(chan struct{})
	close(elected)
	c := policyCollector{passcodeCollector{reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(counted, fresh).Build(), elected: elected}}
	want := `
# HELP access_operator_policy_active_admins Users with role Admin and access Granted in a project with a DashboardPolicy (its status.activeAdmins).
# TYPE access_operator_policy_active_admins gauge
access_operator_policy_active_admins{namespace="team"} 1
# HELP access_operator_policy_admins_minimum A project's DashboardPolicy spec.admins.minimum, where it sets one.
# TYPE access_operator_policy_admins_minimum gauge
access_operator_policy_admins_minimum{namespace="team"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
