package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestPasscodeGaugesOnlyFromTheLeader: a replica that is not (yet) the leader exports no
// per-Passcode series, so that each object's gauges, and its alerts, come once; once elected it
// exports them all.
func TestPasscodeGaugesOnlyFromTheLeader(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "1h",
			Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}},
		Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, ExpiresAt: &at, RenewalTime: &at},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pc).Build()
	elected := make(chan struct{})
	c := passcodeCollector{reader: reader, elected: elected}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("a replica that does not lead exported %d series, want none", n)
	}
	close(elected)
	for name, want := range map[string]int{
		"access_operator_passcode_expiration_timestamp_seconds": 1,
		"access_operator_passcode_renewal_timestamp_seconds":    1,
		"access_operator_passcodes":                             1,
	} {
		if n := testutil.CollectAndCount(c, name); n != want {
			t.Errorf("the leader exported %d series of %s, want %d", n, name, want)
		}
	}
}

// TestDeprecatedNamesFollowTheNewOnes: each access server metric renamed in this release is
// exported under its former name too, with the same series and values, marked deprecated.
func TestDeprecatedNamesFollowTheNewOnes(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(AccessRequests, AccessThrottled, AccessThrottleClients, AccessLatency)
	for _, a := range deprecatedAliases {
		reg.MustRegister(a)
	}
	AccessRequests.WithLabelValues("auth", "valid").Add(3)
	AccessThrottled.Add(2)
	AccessThrottleClients.Set(5)
	AccessLatency.WithLabelValues("verify").Observe(0.002)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	for _, a := range deprecatedAliases {
		now, old := byName[a.now], byName[a.old]
		if now == nil || old == nil {
			t.Errorf("%s or %s missing", a.now, a.old)
			continue
		}
		if !strings.HasPrefix(old.GetHelp(), "Deprecated: renamed "+a.now) || now.GetType() != old.GetType() {
			t.Errorf("%s: help %q, type %v, want deprecated and %v", a.old, old.GetHelp(), old.GetType(), now.GetType())
		}
		if len(now.GetMetric()) == 0 || len(now.GetMetric()) != len(old.GetMetric()) {
			t.Fatalf("%s has %d series, %s %d", a.now, len(now.GetMetric()), a.old, len(old.GetMetric()))
		}
		for i := range now.GetMetric() {
			// The alias does not carry the created timestamp (not exposed in the text format).
			if m := now.GetMetric()[i]; m.Counter != nil {
				m.Counter.CreatedTimestamp = nil
			} else if m.Histogram != nil {
				m.Histogram.CreatedTimestamp = nil
			}
			if n, o := now.GetMetric()[i].String(), old.GetMetric()[i].String(); n != o {
				t.Errorf("%s: %s, but %s: %s", a.now, n, a.old, o)
			}
		}
	}
}

// TestFailingObjectsPerKind: the leader exports, per kind, how many objects are Retrying and how
// many Stalled, read from their conditions (zeros included).
func TestFailingObjectsPerKind(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cond := func(typ, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason}
	}
	stalledPc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "a"},
		Status: accessv1alpha1.PasscodeStatus{Conditions: []metav1.Condition{cond(accessv1alpha1.ConditionStalled, "SecretConflict")}}}
	retryingPc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "b"},
		Status: accessv1alpha1.PasscodeStatus{Conditions: []metav1.Condition{cond(accessv1alpha1.ConditionReconciling, accessv1alpha1.ReasonRetrying)}}}
	waiting := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "c"},
		Status: accessv1alpha1.PasscodeStatus{Conditions: []metav1.Condition{cond(accessv1alpha1.ConditionReconciling, "UserNotFound")}}}
	retryingUser := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Status: accessv1alpha1.DashboardUserStatus{Conditions: []metav1.Condition{cond(accessv1alpha1.ConditionReconciling, accessv1alpha1.ReasonRetrying)}}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stalledPc, retryingPc, waiting, retryingUser).Build()
	elected := make(chan struct{})
	close(elected)
	want := `
# HELP access_operator_objects_failing Objects whose last reconcile failed, by kind and state: Retrying (condition Reconciling, reason Retrying) or Stalled (condition Stalled: only a person can fix it).
# TYPE access_operator_objects_failing gauge
access_operator_objects_failing{kind="DashboardRole",state="Retrying"} 0
access_operator_objects_failing{kind="DashboardRole",state="Stalled"} 0
access_operator_objects_failing{kind="DashboardUser",state="Retrying"} 1
access_operator_objects_failing{kind="DashboardUser",state="Stalled"} 0
access_operator_objects_failing{kind="Passcode",state="Retrying"} 1
access_operator_objects_failing{kind="Passcode",state="Stalled"} 1
`
	if err := testutil.CollectAndCompare(passcodeCollector{reader: reader, elected: elected}, strings.NewReader(want),
		"access_operator_objects_failing"); err != nil {
		t.Fatal(err)
	}
}
