package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

func TestRetryStallAndBackoff(t *testing.T) {
	pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	b := passcodeBackoff(pc)
	errs := []error{apierrors.NewConflict(accessv1alpha1.GroupVersion.WithResource("passcodes").GroupResource(), "x", errors.New("changed")),
		apierrors.NewInternalError(errors.New("etcd")), apierrors.NewTimeoutError("slow", 1)}
	for i, err := range errs {
		f, wait := retry(b, t0, "writing the Secret", err)
		summarize(b, t0, summary{fail: &f})
		if want := time.Second << i; wait != want || pc.Status.Failures != int32(i+1) || !pc.Status.NextRetryAt.Time.Equal(t0.Add(want)) {
			t.Fatalf("failure %d: wait %v failures %d", i+1, wait, pc.Status.Failures)
		}
	}
	ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	reconciling := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReconciling)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != accessv1alpha1.ReasonRetrying ||
		!strings.Contains(ready.Message, "writing the Secret failed (Timeout); retry 3 in 4s") || reconciling == nil {
		t.Fatalf("conditions say what failed and when it is retried: %+v", pc.Status.Conditions)
	}
	if wait, ok := backingOff(b, t0.Add(time.Second)); !ok || wait != 3*time.Second {
		t.Fatalf("the backoff holds until nextRetryAt: %v %v", wait, ok)
	}
	if _, ok := backingOff(b, t0.Add(4*time.Second)); ok {
		t.Fatal("the backoff ends at nextRetryAt")
	}
	pc.Generation = 4
	if _, ok := backingOff(passcodeBackoff(pc), t0.Add(time.Second)); ok {
		t.Fatal("a spec change retries at once")
	}
	f := stall(passcodeBackoff(pc), accessv1alpha1.ReasonSecretConflict, "Secret x belongs to someone else")
	summarize(passcodeBackoff(pc), t0, summary{fail: &f})
	if pc.Status.Failures != 0 || pc.Status.NextRetryAt != nil ||
		apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReconciling) != nil ||
		!apimeta.IsStatusConditionTrue(pc.Status.Conditions, accessv1alpha1.ConditionStalled) {
		t.Fatalf("a stall ends retrying and says Stalled: %+v", pc.Status)
	}
	u := &accessv1alpha1.DashboardUser{}
	retry(userBackoff(u), t0, "listing", apierrors.NewServiceUnavailable("down"))
	succeeded(userBackoff(u))
	if u.Status.Failures != 0 || u.Status.NextRetryAt != nil {
		t.Fatal("success clears a user's backoff")
	}
}

func TestAdoptWrittenAndUrgent(t *testing.T) {
	w := passcodesecret.Written{Passcode: "p", Revision: 2, ExpiresAt: t0}
	cases := []struct {
		in     decision
		adopt  bool
		reason string
	}{
		{decision{kind: actIssue, reason: accessv1alpha1.ReasonRepaired}, true, accessv1alpha1.ReasonIssued},
		{decision{kind: actIssue, reason: accessv1alpha1.ReasonReset}, true, accessv1alpha1.ReasonReset},
		{decision{kind: actIssue, reason: accessv1alpha1.ReasonRotated}, true, accessv1alpha1.ReasonRotated},
		{decision{kind: actRevoke, reason: accessv1alpha1.ReasonRevoked}, true, accessv1alpha1.ReasonRevoked},
		{decision{kind: actSyncSecret, reason: accessv1alpha1.ReasonRepaired}, false, accessv1alpha1.ReasonRepaired},
	}
	for _, c := range cases {
		got := adoptWritten(c.in, w)
		if (got.adopt != nil) != c.adopt || got.reason != c.reason {
			t.Errorf("%v: adopt %v reason %s", c.in.reason, got.adopt != nil, got.reason)
		}
	}

	active := active("1h")
	if urgent(active, userGranted) {
		t.Error("routine work is not urgent")
	}
	for what, u := range map[string]userState{"user revoked": userRevoked, "user deleted": userMissing} {
		if !urgent(active, u) {
			t.Errorf("%s is urgent", what)
		}
	}
	revoked := active.DeepCopy()
	revoked.Spec.Revoked = true
	reset := active.DeepCopy()
	reset.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: "2026-03-01T10:00:00Z"}
	if !urgent(revoked, userGranted) || !urgent(reset, userGranted) {
		t.Error("spec.revoked and a reset are urgent")
	}
	revoked.Status.Phase = accessv1alpha1.PasscodeRevoked
	if urgent(revoked, userRevoked) {
		t.Error("an already revoked passcode is not urgent")
	}
}

func TestPasscodeSummary(t *testing.T) {
	withReady := func(pc *accessv1alpha1.Passcode, reason, msg string) *accessv1alpha1.Passcode {
		setCondition(&pc.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg, pc.Generation, t0)
		return pc
	}
	cases := []struct {
		name       string
		pc         *accessv1alpha1.Passcode
		d          decision
		ready      string // status/reason
		msg        string // a part of Ready's message
		reconciles bool
	}{
		{"waiting for the user", &accessv1alpha1.Passcode{}, decision{kind: actWait, reason: accessv1alpha1.ReasonUserNotFound, message: "Waiting for DashboardUser"},
			"False/UserNotFound", "Waiting for DashboardUser", true},
		{"issued", active("1h"), decision{kind: actIssue, reason: accessv1alpha1.ReasonReset}, "True/Reset", "is valid until", false},
		{"nothing to do keeps how it came to be", withReady(active("1h"), accessv1alpha1.ReasonRotated, "x"), decision{kind: actNone},
			"True/Rotated", "is valid until", false},
		{"expired", active("1h", withPhase(accessv1alpha1.PasscodeExpired)), decision{kind: actExpire}, "False/Expired", "reset-requested-at", false},
		{"revoked now", active("1h", withPhase(accessv1alpha1.PasscodeRevoked)), decision{kind: actRevoke, message: "spec.revoked is true"},
			"False/Revoked", "spec.revoked is true; the passcode no longer works", false},
		{"a refused reset keeps Ready and says why", withReady(active("1h"), accessv1alpha1.ReasonIssued, "x"),
			decision{kind: actRefuseReset, message: "Reset refused: the user is Revoked"}, "True/Issued", "Reset refused", false},
	}
	for _, c := range cases {
		summarize(passcodeBackoff(c.pc), t0, passcodeSummary(c.pc, c.d))
		ready := apimeta.FindStatusCondition(c.pc.Status.Conditions, accessv1alpha1.ConditionReady)
		reconciling := apimeta.IsStatusConditionTrue(c.pc.Status.Conditions, accessv1alpha1.ConditionReconciling)
		if ready == nil || string(ready.Status)+"/"+ready.Reason != c.ready || !strings.Contains(ready.Message, c.msg) || reconciling != c.reconciles {
			t.Errorf("%s: Ready %+v Reconciling %v", c.name, ready, reconciling)
		}
		if apimeta.FindStatusCondition(c.pc.Status.Conditions, accessv1alpha1.ConditionStalled) != nil {
			t.Errorf("%s: a decision never leaves Stalled", c.name)
		}
	}
}

func TestSetUserConditions(t *testing.T) {
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	setUserConditions(u, t0, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed, "smtp: 451", "")
	setUserConditions(u, t0, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed, "", "")
	ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready == nil || ready.Message != "smtp: 451" || !apimeta.IsStatusConditionTrue(u.Status.Conditions, accessv1alpha1.ConditionReconciling) {
		t.Fatalf("waiting for a retry keeps the failure's message: %+v", u.Status.Conditions)
	}
	setUserConditions(u, t0, metav1.ConditionTrue, accessv1alpha1.ReasonInvited, "sent", "")
	if apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReconciling) != nil ||
		!apimeta.IsStatusConditionTrue(u.Status.Conditions, accessv1alpha1.ConditionReady) {
		t.Fatalf("delivered: Ready, not Reconciling: %+v", u.Status.Conditions)
	}
}
