package controllers

import (
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/validity"
)

// plan is what decide makes of one observation: either why the reconcile stops before acting, or
// the status to start from and the decision to carry out.
type plan struct {
	// wait ends the reconcile with nothing to record: a persisted backoff that holds, or our own
	// last status write not in the cache yet.
	wait time.Duration
	// stall is a problem only a person can fix (an invalid spec, a Secret of someone else's).
	stall *failure
	// readErr is a read that failed (what it read: reading), retried with the persisted backoff.
	readErr error
	reading string
	// status is the Passcode's status before act: clamped to what the spec allows now, renewal
	// in line with the spec, a grace period that ended dropped.
	status accessv1alpha1.PasscodeStatus
	d      decision
}

// decide is the Passcode reconciler's one decision, a pure function of the observation and "now":
// every status change before act is made here, on a copy.
func decide(now time.Time, o observed) plan {
	switch o.stopped() {
	case "spec":
		return plan{stall: &failure{stalled: true, reason: accessv1alpha1.ReasonInvalidSpec, message: o.specErr.Error()}}
	case "read":
		return plan{readErr: o.readErr, reading: o.reading}
	case "backoff":
		return plan{wait: o.backoff}
	case "foreign":
		return plan{stall: &failure{stalled: true, reason: accessv1alpha1.ReasonSecretConflict, message: secretConflictMessage(o.pc)}}
	case "behind":
		return plan{wait: time.Second}
	}
	next := o.pc.DeepCopy()
	clampToSpec(next, o.t)
	refreshRenewal(next, o.t)
	if graceOver(now, next) {
		next.Status.Previous = nil
	}
	d := decidePasscode(now, next, o.ustate, passcodesecret.Classify(o.secret.obj, next))
	if o.written != nil {
		// The interrupted issue's passcode: the same decision finishes with it.
		d = adoptWritten(d, *o.written)
	}
	if d.kind == actWait && next.Status.Phase == "" {
		next.Status.Phase = accessv1alpha1.PasscodePending
	}
	return plan{status: next.Status, d: d}
}

func secretConflictMessage(pc *accessv1alpha1.Passcode) string {
	return fmt.Sprintf("Secret %q exists and is not managed by this Passcode; choose another spec.secretName or delete that Secret",
		passcodesecret.Name(pc))
}

// passcodeSummary is what Ready and Reconciling say of pc after decision d was carried out (pc's
// status is the one act left): the phase's state, and how the current passcode came to be.
func passcodeSummary(pc *accessv1alpha1.Passcode, d decision) summary {
	if d.kind == actWait {
		return summary{ready: metav1.ConditionFalse, reason: d.reason, message: d.message, progress: &[2]string{d.reason, d.message}}
	}
	st := &pc.Status
	old := apimeta.FindStatusCondition(st.Conditions, accessv1alpha1.ConditionReady)
	var s summary
	switch st.Phase {
	case accessv1alpha1.PasscodeActive:
		reason := accessv1alpha1.ReasonIssued
		if d.kind == actIssue {
			reason = d.reason
		} else if old != nil && old.Status == metav1.ConditionTrue {
			reason = old.Reason // keep how the current passcode came to be
		}
		s = summary{ready: metav1.ConditionTrue, reason: reason, message: fmt.Sprintf("Revision %d is valid until %s%s",
			st.Revision, st.ExpiresAt.UTC().Format(time.RFC3339), missingTargets(pc))}
	case accessv1alpha1.PasscodeExpired:
		s = summary{ready: metav1.ConditionFalse, reason: accessv1alpha1.ReasonExpired, message: fmt.Sprintf(
			"Revision %d expired at %s; set the %s annotation to grant a new passcode", st.Revision,
			st.ExpiresAt.UTC().Format(time.RFC3339), accessv1alpha1.ResetRequestedAtAnnotation)}
	case accessv1alpha1.PasscodeRevoked:
		msg := d.message
		switch {
		case d.kind == actRefuseReset:
		case d.kind == actRevoke:
			msg += "; the passcode no longer works"
		case old != nil && old.Reason == accessv1alpha1.ReasonRevoked:
			msg = old.Message
		default:
			msg = "The passcode was revoked"
		}
		s = summary{ready: metav1.ConditionFalse, reason: accessv1alpha1.ReasonRevoked, message: msg}
	default: // Pending with nothing decided: Ready stays as it is
		if old != nil {
			s = summary{ready: old.Status, reason: old.Reason, message: old.Message}
		}
	}
	if d.kind == actRefuseReset && st.Phase != accessv1alpha1.PasscodeRevoked {
		s.message = d.message // Ready stays as it is, but says why the reset did not happen
	}
	return s
}

// clampToSpec keeps an issued passcode within what the spec allows now (validity.Clamp, the limits
// the access server applies on every request, so status and its answers agree).
func clampToSpec(pc *accessv1alpha1.Passcode, t timings) { validity.Clamp(&pc.Status, t) }

// refreshRenewal keeps status.renewalTime in line with the current spec, so that switching an
// Active passcode to Automatic, or changing renewBefore, takes effect without a new passcode.
func refreshRenewal(pc *accessv1alpha1.Passcode, t timings) {
	if pc.Status.Phase != accessv1alpha1.PasscodeActive || pc.Status.ExpiresAt == nil || !automatic(pc) {
		pc.Status.RenewalTime = nil
		return
	}
	// Second precision, like everything stored in status: an unrounded time would differ from the
	// stored one on every reconcile and cause a status write each time.
	pc.Status.RenewalTime = ptrTime(pc.Status.ExpiresAt.Add(-t.RenewBefore).Truncate(time.Second))
}
