package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mt(t time.Time) *metav1.Time { return ptrTime(t) }

// active is an Active Passcode issued at t0 with the given tenure.
func active(tenure string, mods ...func(*accessv1alpha1.Passcode)) *accessv1alpha1.Passcode {
	pc := &accessv1alpha1.Passcode{Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: tenure}}
	d, _ := duration.Tenure(tenure)
	pc.Status = accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, Hash: "sha256:old", Revision: 1,
		IssuedAt: mt(t0), ExpiresAt: mt(t0.Add(d))}
	for _, m := range mods {
		m(pc)
	}
	return pc
}

func withAutomatic(renewBefore, grace string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: renewBefore, GracePeriod: grace}
		t, _ := specTimings(pc)
		refreshRenewal(pc, t)
	}
}

func withPhase(p accessv1alpha1.PasscodePhase) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) { pc.Status.Phase = p }
}

func withReset(v, handled string) func(*accessv1alpha1.Passcode) {
	return func(pc *accessv1alpha1.Passcode) {
		pc.Annotations = map[string]string{accessv1alpha1.ResetRequestedAtAnnotation: v}
		pc.Status.LastResetRequestedAt = handled
	}
}

func TestDecidePasscode(t *testing.T) {
	pending := func(mods ...func(*accessv1alpha1.Passcode)) *accessv1alpha1.Passcode {
		pc := &accessv1alpha1.Passcode{Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "1h"}}
		for _, m := range mods {
			m(pc)
		}
		return pc
	}
	revokedSpec := func(pc *accessv1alpha1.Passcode) { pc.Spec.Revoked = true }
	const reset = "2026-03-01T11:00:00Z"

	cases := []struct {
		name   string
		now    time.Time
		pc     *accessv1alpha1.Passcode
		user   userState
		secret passcodesecret.State
		kind   actionKind
		reason string
		grace  bool
	}{
		{"new grant issues", t0, pending(), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonIssued, false},
		{"new grant waits for a missing user", t0, pending(), userMissing, passcodesecret.InSync, actWait, accessv1alpha1.ReasonUserNotFound, false},
		{"new grant waits for a revoked user", t0, pending(), userRevoked, passcodesecret.InSync, actWait, accessv1alpha1.ReasonUserRevoked, false},
		{"new grant revoked in spec", t0, pending(revokedSpec), userGranted, passcodesecret.InSync, actRevoke, accessv1alpha1.ReasonRevoked, false},
		{"active, nothing due", t0.Add(59 * time.Minute), active("1h"), userGranted, passcodesecret.InSync, actNone, "", false},
		{"manual expiry one second early", t0.Add(time.Hour - time.Second), active("1h"), userGranted, passcodesecret.InSync, actNone, "", false},
		{"manual expiry to the second", t0.Add(time.Hour), active("1h"), userGranted, passcodesecret.InSync, actExpire, accessv1alpha1.ReasonExpired, false},
		{"manual expiry long past (manager was down)", t0.Add(100 * time.Hour), active("1h"), userGranted, passcodesecret.InSync, actExpire, accessv1alpha1.ReasonExpired, false},
		{"automatic: before renewal", t0.Add(19 * 24 * time.Hour), active("30d", withAutomatic("10d", "1h")), userGranted, passcodesecret.InSync, actNone, "", false},
		{"automatic: renewal due", t0.Add(20 * 24 * time.Hour), active("30d", withAutomatic("10d", "1h")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonRotated, true},
		{"automatic: past expiry rotates without grace", t0.Add(31 * 24 * time.Hour), active("30d", withAutomatic("10d", "1h")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonRotated, false},
		{"automatic never expires", t0.Add(30 * 24 * time.Hour), active("30d", withAutomatic("", "")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonRotated, false},
		{"user revoked revokes", t0, active("1h"), userRevoked, passcodesecret.InSync, actRevoke, accessv1alpha1.ReasonRevoked, false},
		{"user deleted revokes", t0, active("1h"), userMissing, passcodesecret.InSync, actRevoke, accessv1alpha1.ReasonRevoked, false},
		{"spec.revoked revokes", t0, active("1h", revokedSpec), userGranted, passcodesecret.InSync, actRevoke, accessv1alpha1.ReasonRevoked, false},
		{"revocation beats a due renewal", t0.Add(25 * 24 * time.Hour), active("30d", withAutomatic("10d", ""), revokedSpec), userGranted, passcodesecret.InSync, actRevoke, accessv1alpha1.ReasonRevoked, false},
		{"secret deleted is repaired", t0, active("1h"), userGranted, passcodesecret.Missing, actIssue, accessv1alpha1.ReasonRepaired, false},
		{"secret edited is repaired", t0, active("1h"), userGranted, passcodesecret.Tampered, actIssue, accessv1alpha1.ReasonRepaired, false},
		{"metadata drift is synced, not rotated", t0, active("1h"), userGranted, passcodesecret.Drifted, actSyncSecret, accessv1alpha1.ReasonRepaired, false},
		{"expiry beats repair", t0.Add(time.Hour), active("1h"), userGranted, passcodesecret.Missing, actExpire, accessv1alpha1.ReasonExpired, false},
		{"reset of an active passcode keeps grace", t0, active("1h", withReset(reset, "")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonReset, true},
		{"reset already handled does nothing", t0, active("1h", withReset(reset, reset)), userGranted, passcodesecret.InSync, actNone, "", false},
		{"reset of an expired passcode grants again", t0.Add(2 * time.Hour), active("1h", withPhase(accessv1alpha1.PasscodeExpired), withReset(reset, "")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonReset, false},
		{"reset of a revoked passcode grants again", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked), withReset(reset, "")), userGranted, passcodesecret.InSync, actIssue, accessv1alpha1.ReasonReset, false},
		{"reset refused while the user is revoked", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked), withReset(reset, "")), userRevoked, passcodesecret.InSync, actRefuseReset, accessv1alpha1.ReasonUserRevoked, false},
		{"reset refused when the user is gone", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked), withReset(reset, "")), userMissing, passcodesecret.InSync, actRefuseReset, accessv1alpha1.ReasonUserNotFound, false},
		{"reset refused when revoked for good", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked), revokedSpec, withReset(reset, "")), userGranted, passcodesecret.InSync, actRefuseReset, accessv1alpha1.ReasonRevoked, false},
		{"reset with a bad time is refused", t0, active("1h", withReset("yesterday", "")), userGranted, passcodesecret.InSync, actRefuseReset, accessv1alpha1.ReasonInvalidSpec, false},
		{"expired stays expired", t0.Add(2 * time.Hour), active("1h", withPhase(accessv1alpha1.PasscodeExpired)), userGranted, passcodesecret.InSync, actNone, "", false},
		{"expired secret holding a passcode is wiped", t0.Add(2 * time.Hour), active("1h", withPhase(accessv1alpha1.PasscodeExpired)), userGranted, passcodesecret.Drifted, actSyncSecret, accessv1alpha1.ReasonRepaired, false},
		{"revoked is not revived by a granted user", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked)), userGranted, passcodesecret.InSync, actNone, "", false},
	}
	for _, c := range cases {
		d := decidePasscode(c.now, c.pc, c.user, c.secret)
		if d.kind != c.kind || d.reason != c.reason || d.grace != c.grace {
			t.Errorf("%s: got kind=%d reason=%q grace=%v, want kind=%d reason=%q grace=%v", c.name, d.kind, d.reason, d.grace, c.kind, c.reason, c.grace)
		}
		if d.kind == actRefuseReset && d.reset == "" {
			t.Errorf("%s: a refused reset must be recorded as handled", c.name)
		}
	}
}

func TestIssuedStatus(t *testing.T) {
	now := t0.Add(20*24*time.Hour + 500*time.Millisecond) // sub-second part must not reach status
	pc := active("30d", withAutomatic("10d", "1h"))
	tm, err := specTimings(pc)
	if err != nil {
		t.Fatal(err)
	}
	issuedStatus(now, pc, tm, "sha256:new", true, "")
	st := pc.Status
	issued := now.Truncate(time.Second)
	if st.Revision != 2 || st.Hash != "sha256:new" || st.Phase != accessv1alpha1.PasscodeActive {
		t.Fatalf("status = %+v", st)
	}
	if !st.IssuedAt.Time.Equal(issued) || !st.ExpiresAt.Time.Equal(issued.Add(30*24*time.Hour)) {
		t.Errorf("issuedAt %v expiresAt %v", st.IssuedAt, st.ExpiresAt)
	}
	if !st.RenewalTime.Time.Equal(issued.Add(20 * 24 * time.Hour)) {
		t.Errorf("renewalTime %v, want issuedAt + tenure - renewBefore", st.RenewalTime)
	}
	if st.Previous == nil || st.Previous.Hash != "sha256:old" || !st.Previous.ValidUntil.Time.Equal(issued.Add(time.Hour)) {
		t.Errorf("previous = %+v, want the old hash valid for the 1h grace", st.Previous)
	}
}

func TestIssuedStatusGraceWindow(t *testing.T) {
	cases := []struct {
		name      string
		now       time.Time
		grace     string
		keep      bool
		wantUntil time.Time
	}{
		{"no grace period", t0.Add(20 * 24 * time.Hour), "", false, time.Time{}},
		{"zero grace period", t0.Add(20 * 24 * time.Hour), "0m", false, time.Time{}},
		{"grace capped at the old expiry", t0.Add(30*24*time.Hour - 10*time.Minute), "1h", true, t0.Add(30 * 24 * time.Hour)},
		{"grace of 24h", t0.Add(20 * 24 * time.Hour), "24h", true, t0.Add(21 * 24 * time.Hour)},
	}
	for _, c := range cases {
		pc := active("30d", withAutomatic("10d", c.grace))
		tm, _ := specTimings(pc)
		issuedStatus(c.now, pc, tm, "sha256:new", true, "")
		if (pc.Status.Previous != nil) != c.keep {
			t.Errorf("%s: previous = %+v", c.name, pc.Status.Previous)
			continue
		}
		if c.keep && !pc.Status.Previous.ValidUntil.Time.Equal(c.wantUntil) {
			t.Errorf("%s: validUntil %v, want %v", c.name, pc.Status.Previous.ValidUntil, c.wantUntil)
		}
	}
	// Without grace asked (a repair), the old passcode stops at once.
	pc := active("30d", withAutomatic("10d", "1h"))
	tm, _ := specTimings(pc)
	issuedStatus(t0, pc, tm, "sha256:new", false, "")
	if pc.Status.Previous != nil {
		t.Errorf("a repair must not keep the previous passcode")
	}
}

func TestNextDeadline(t *testing.T) {
	cases := []struct {
		name string
		now  time.Time
		pc   *accessv1alpha1.Passcode
		want time.Duration
		ok   bool
	}{
		{"manual: at expiry", t0, active("1h"), time.Hour, true},
		{"manual: 1s before expiry", t0.Add(time.Hour - time.Second), active("1h"), time.Second, true},
		{"manual: past expiry acts at once, never with zero", t0.Add(2 * time.Hour), active("1h"), time.Millisecond, true},
		{"automatic: at renewal", t0, active("30d", withAutomatic("10d", "")), 20 * 24 * time.Hour, true},
		{"automatic with default renewBefore", t0, active("30d", withAutomatic("", "")), 20 * 24 * time.Hour, true},
		{"grace end comes first", t0, active("30d", withAutomatic("10d", "1h"), func(pc *accessv1alpha1.Passcode) {
			pc.Status.Previous = &accessv1alpha1.PreviousPasscode{Hash: "x", ValidUntil: metav1.NewTime(t0.Add(time.Hour))}
		}), time.Hour, true},
		{"expired: nothing scheduled", t0, active("1h", withPhase(accessv1alpha1.PasscodeExpired)), 0, false},
		{"revoked: nothing scheduled", t0, active("1h", withPhase(accessv1alpha1.PasscodeRevoked)), 0, false},
		{"pending: nothing scheduled", t0, &accessv1alpha1.Passcode{}, 0, false},
	}
	for _, c := range cases {
		got, ok := nextDeadline(c.now, c.pc)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestGraceOverAndRenewalDue(t *testing.T) {
	pc := active("30d", withAutomatic("10d", "1h"), func(pc *accessv1alpha1.Passcode) {
		pc.Status.Previous = &accessv1alpha1.PreviousPasscode{Hash: "x", ValidUntil: metav1.NewTime(t0.Add(time.Hour))}
	})
	if graceOver(t0.Add(time.Hour-time.Nanosecond), pc) || !graceOver(t0.Add(time.Hour), pc) {
		t.Error("the previous passcode works until validUntil, not from it")
	}
	if renewalDue(t0.Add(20*24*time.Hour-time.Second), pc) || !renewalDue(t0.Add(20*24*time.Hour), pc) {
		t.Error("renewal is due from renewalTime on")
	}
	manual := active("30d")
	if renewalDue(t0.Add(29*24*time.Hour), manual) {
		t.Error("a Manual passcode is never renewed")
	}
	// Switching a live passcode to Manual drops its renewal time.
	pc.Spec.Rotation.Policy = accessv1alpha1.RotationManual
	tm, _ := specTimings(pc)
	refreshRenewal(pc, tm)
	if pc.Status.RenewalTime != nil {
		t.Error("refreshRenewal must clear renewalTime for Manual")
	}
}

func TestRetryBackoff(t *testing.T) {
	want := map[int32]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 100: 5 * time.Minute}
	for n, w := range want {
		if got := retryBackoff(n); got != w {
			t.Errorf("retryBackoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestSpecTimingsDefaults(t *testing.T) {
	pc := &accessv1alpha1.Passcode{Spec: accessv1alpha1.PasscodeSpec{Tenure: "30d"}}
	tm, err := specTimings(pc)
	if err != nil || tm.RenewBefore != 10*24*time.Hour || tm.Grace != 0 {
		t.Fatalf("defaults: %+v, %v", tm, err)
	}
	pc.Spec.Tenure = "0m" // only reachable if the API server's validation was bypassed
	if _, err := specTimings(pc); err == nil {
		t.Fatal("a zero tenure must be refused")
	}
	pc.Spec.Tenure = "-1h"
	if _, err := specTimings(pc); err == nil {
		t.Fatal("a negative tenure must be refused")
	}
}
