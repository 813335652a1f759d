package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/validity"
)

// The Passcode reconciler's decisions are pure functions of the Passcode, what the reconciler
// observed (its user, its Secret) and "now": table tests cover them without an API server.

// userState is what the reconciler found of a Passcode's user.
type userState int

const (
	userGranted userState = iota
	userMissing
	userRevoked
	// userReplaced: a DashboardUser of that name exists, but it is not the object the current
	// passcode was issued to (the user was deleted and created again).
	userReplaced
)

// actionKind is what one reconcile does.
type actionKind int

const (
	actNone        actionKind = iota
	actIssue                  // make a new passcode and write it
	actExpire                 // the tenure ended (Manual): wipe it
	actRevoke                 // revoked: wipe it
	actWait                   // nothing can be done until the user changes
	actRefuseReset            // a reset was asked for and cannot be done
	actSyncSecret             // rewrite the Secret without a new passcode
)

// decision is the outcome of decidePasscode.
type decision struct {
	kind    actionKind
	reason  string // condition and Event reason
	message string // human message, never a secret
	// grace keeps the replaced passcode valid for the grace period (rotation and reset only).
	grace bool
	// reset is the reset annotation value this decision handles, recorded in status.
	reset string
	// adopt is a passcode an interrupted issue already wrote to the Secret: an actIssue finishes
	// with it instead of generating another, an actExpire or actRevoke counts its revision as used.
	adopt *passcodesecret.Written
}

// timings are the Passcode's durations, parsed from spec (internal/validity: the access server
// applies the same limits on every request).
type timings = validity.Timings

// specTimings parses the spec's durations. The CRD's CEL rules accept exactly what this accepts, so
// an error means the API server's validation was bypassed: the Passcode is Stalled.
func specTimings(pc *accessv1alpha1.Passcode) (timings, error) { return validity.Parse(&pc.Spec) }

func automatic(pc *accessv1alpha1.Passcode) bool {
	return pc.Spec.Rotation != nil && pc.Spec.Rotation.Policy == accessv1alpha1.RotationAutomatic
}

// pendingReset returns the reset annotation's value when it has not been handled yet.
func pendingReset(pc *accessv1alpha1.Passcode) (string, bool) {
	v := pc.Annotations[accessv1alpha1.ResetRequestedAtAnnotation]
	return v, v != "" && v != pc.Status.LastResetRequestedAt
}

// immediateReset: the pending reset ends the current passcode at once (no grace period).
func immediateReset(pc *accessv1alpha1.Passcode) bool {
	return pc.Annotations[accessv1alpha1.ResetImmediateAnnotation] == "true"
}

// passcodeExpired: from expiresAt on, the passcode no longer works.
func passcodeExpired(now time.Time, pc *accessv1alpha1.Passcode) bool {
	return pc.Status.ExpiresAt != nil && !now.Before(pc.Status.ExpiresAt.Time)
}

// renewalDue: an Automatic passcode is replaced from renewalTime on.
func renewalDue(now time.Time, pc *accessv1alpha1.Passcode) bool {
	return automatic(pc) && pc.Status.RenewalTime != nil && !now.Before(pc.Status.RenewalTime.Time)
}

// graceOver: the previous passcode stops working at validUntil.
func graceOver(now time.Time, pc *accessv1alpha1.Passcode) bool {
	return pc.Status.Previous != nil && !now.Before(pc.Status.Previous.ValidUntil.Time)
}

// decidePasscode picks the one thing this reconcile does. The order is the order of precedence:
// revocation beats a reset, a reset beats deadlines, deadlines beat repairs.
func decidePasscode(now time.Time, pc *accessv1alpha1.Passcode, user userState, secret passcodesecret.State) decision {
	phase := pc.Status.Phase
	reset, resetAsked := pendingReset(pc)

	if pc.Spec.Revoked {
		switch {
		case phase != accessv1alpha1.PasscodeRevoked:
			return decision{kind: actRevoke, reason: accessv1alpha1.ReasonRevoked, message: "spec.revoked is true"}
		case resetAsked:
			return decision{kind: actRefuseReset, reason: accessv1alpha1.ReasonRevoked, reset: reset,
				message: "Reset refused: spec.revoked is true, so this Passcode is revoked for good; create a new Passcode"}
		}
		return syncOrNothing(secret)
	}

	if resetAsked {
		return decideReset(now, pc, user, reset)
	}

	switch phase {
	case "", accessv1alpha1.PasscodePending:
		switch user {
		case userMissing:
			return decision{kind: actWait, reason: accessv1alpha1.ReasonUserNotFound,
				message: fmt.Sprintf("Waiting for DashboardUser %q to exist", pc.Spec.UserRef.Name)}
		case userRevoked:
			return decision{kind: actWait, reason: accessv1alpha1.ReasonUserRevoked,
				message: fmt.Sprintf("Waiting for the access of DashboardUser %q to be Granted", pc.Spec.UserRef.Name)}
		}
		if imp := pc.Spec.Import; imp != nil {
			return decision{kind: actIssue, reason: accessv1alpha1.ReasonImported,
				message: fmt.Sprintf("Imported the passcode of Secret %q", imp.SecretRef.Name)}
		}
		return decision{kind: actIssue, reason: accessv1alpha1.ReasonIssued, message: "First passcode issued"}

	case accessv1alpha1.PasscodeActive:
		return decideActive(now, pc, user, secret)

	default: // Expired, Revoked: final until a reset; keep the Secret free of any passcode.
		return syncOrNothing(secret)
	}
}

// decideReset handles a reset request not handled yet: a fresh passcode, unless it cannot be done.
func decideReset(now time.Time, pc *accessv1alpha1.Passcode, user userState, reset string) decision {
	phase := pc.Status.Phase
	if _, err := time.Parse(time.RFC3339, reset); err != nil {
		return decision{kind: actRefuseReset, reason: accessv1alpha1.ReasonInvalidSpec, reset: reset,
			message: fmt.Sprintf("Reset refused: annotation %s must be an RFC 3339 time such as 2026-01-02T15:04:05Z",
				accessv1alpha1.ResetRequestedAtAnnotation)}
	}
	switch user {
	case userMissing:
		return decision{kind: actRefuseReset, reason: accessv1alpha1.ReasonUserNotFound, reset: reset,
			message: fmt.Sprintf("Reset refused: DashboardUser %q does not exist", pc.Spec.UserRef.Name)}
	case userRevoked:
		return decision{kind: actRefuseReset, reason: accessv1alpha1.ReasonUserRevoked, reset: reset,
			message: fmt.Sprintf("Reset refused: the access of DashboardUser %q is Revoked; grant it first", pc.Spec.UserRef.Name)}
	}
	if immediateReset(pc) {
		return decision{kind: actIssue, reason: accessv1alpha1.ReasonReset, reset: reset,
			message: "Immediate reset requested: the previous passcode stopped working at once"}
	}
	return decision{kind: actIssue, reason: accessv1alpha1.ReasonReset, reset: reset,
		// The old passcode keeps its grace, but never for a user created again under its name.
		grace: phase == accessv1alpha1.PasscodeActive && !passcodeExpired(now, pc) && user != userReplaced, message: "Reset requested"}
}

// decideActive picks what an Active passcode needs: revocation, rotation, expiry or repair.
func decideActive(now time.Time, pc *accessv1alpha1.Passcode, user userState, secret passcodesecret.State) decision {
	switch {
	case user == userMissing:
		return decision{kind: actRevoke, reason: accessv1alpha1.ReasonRevoked,
			message: fmt.Sprintf("DashboardUser %q was deleted", pc.Spec.UserRef.Name)}
	case user == userRevoked:
		return decision{kind: actRevoke, reason: accessv1alpha1.ReasonRevoked,
			message: fmt.Sprintf("The access of DashboardUser %q is Revoked", pc.Spec.UserRef.Name)}
	case user == userReplaced:
		return decision{kind: actRevoke, reason: accessv1alpha1.ReasonRevoked, message: fmt.Sprintf(
			"DashboardUser %q was deleted and created again: passcodes of the old user are revoked; reset to issue one for the new user",
			pc.Spec.UserRef.Name)}
	case renewalDue(now, pc):
		// Also after the manager was down past expiresAt: the next passcode is issued at once.
		return decision{kind: actIssue, reason: accessv1alpha1.ReasonRotated, grace: !passcodeExpired(now, pc),
			message: "Automatic rotation"}
	case passcodeExpired(now, pc):
		return decision{kind: actExpire, reason: accessv1alpha1.ReasonExpired, message: "The tenure ended"}
	case secret == passcodesecret.Missing:
		return decision{kind: actIssue, reason: accessv1alpha1.ReasonRepaired, message: "The Secret was deleted"}
	case secret == passcodesecret.Tampered:
		return decision{kind: actIssue, reason: accessv1alpha1.ReasonRepaired, message: "The passcode in the Secret was edited"}
	}
	return syncOrNothing(secret)
}

// adoptWritten turns a decision taken while the Secret holds the passcode of an interrupted issue
// into one that finishes that issue. A decision to issue keeps its reason (the same decision was
// taken before the interruption); a repair of the "tampered" Secret is no repair, it is the issue
// the interrupted reconcile made, so it is recorded as a first issue or a rotation.
func adoptWritten(d decision, w passcodesecret.Written) decision {
	switch d.kind {
	case actIssue:
		d.adopt = &w
		if d.reason == accessv1alpha1.ReasonRepaired {
			d.reason, d.message = accessv1alpha1.ReasonIssued, "Finished an interrupted issue"
		}
	case actExpire, actRevoke:
		d.adopt = &w
	case actNone, actWait, actRefuseReset, actSyncSecret:
	}
	return d
}

// urgent: a revocation or a reset acts at once, whatever backoff a past failure left.
func urgent(pc *accessv1alpha1.Passcode, user userState) bool {
	if _, asked := pendingReset(pc); asked {
		return true
	}
	if pc.Status.Phase == accessv1alpha1.PasscodeRevoked {
		return false
	}
	return pc.Spec.Revoked || (pc.Status.Phase == accessv1alpha1.PasscodeActive && user != userGranted)
}

func syncOrNothing(secret passcodesecret.State) decision {
	if secret == passcodesecret.Drifted || secret == passcodesecret.Tampered {
		return decision{kind: actSyncSecret, reason: accessv1alpha1.ReasonRepaired, message: "The Secret's metadata was restored"}
	}
	return decision{kind: actNone}
}

// issuedStatus sets the status for a new passcode with hash, issued now. With grace, the
// replaced passcode keeps working for the grace period, but never beyond its own expiry.
func issuedStatus(now time.Time, pc *accessv1alpha1.Passcode, t timings, hash string, grace bool, userUID types.UID) {
	now = now.Truncate(time.Second) // status times have second precision; never round up
	st := &pc.Status
	st.Previous = nil
	if grace && t.Grace > 0 && st.Hash != "" && st.ExpiresAt != nil {
		until := now.Add(t.Grace)
		if st.ExpiresAt.Before(&metav1.Time{Time: until}) {
			until = st.ExpiresAt.Time
		}
		if now.Before(until) {
			st.Previous = &accessv1alpha1.PreviousPasscode{Hash: st.Hash, ValidUntil: metav1.NewTime(until)}
		}
	}
	st.Phase = accessv1alpha1.PasscodeActive
	st.Hash = hash
	st.UserUID = userUID
	st.Revision++
	st.IssuedAt = ptrTime(now)
	st.ExpiresAt = ptrTime(now.Add(t.Tenure))
	refreshRenewal(pc, t)
}

// endedStatus sets the status of a passcode that stopped working for good (Expired, Revoked).
func endedStatus(pc *accessv1alpha1.Passcode, phase accessv1alpha1.PasscodePhase) {
	pc.Status.Phase = phase
	pc.Status.Previous = nil
	pc.Status.RenewalTime = nil
}

// nextDeadline is how long until the next thing that must happen by itself: expiry (Manual),
// renewal (Automatic) or the end of a grace period. ok is false when nothing is scheduled.
func nextDeadline(now time.Time, pc *accessv1alpha1.Passcode) (time.Duration, bool) {
	var deadlines []time.Time
	if pc.Status.Phase == accessv1alpha1.PasscodeActive {
		if automatic(pc) && pc.Status.RenewalTime != nil {
			deadlines = append(deadlines, pc.Status.RenewalTime.Time)
		}
		if pc.Status.ExpiresAt != nil {
			deadlines = append(deadlines, pc.Status.ExpiresAt.Time)
		}
	}
	if pc.Status.Previous != nil {
		deadlines = append(deadlines, pc.Status.Previous.ValidUntil.Time)
	}
	var best time.Duration
	found := false
	for _, d := range deadlines {
		wait := d.Sub(now)
		if wait <= 0 {
			// Past already: act at once, but never with a zero or negative delay.
			wait = time.Millisecond
		}
		if !found || wait < best {
			best, found = wait, true
		}
	}
	return best, found
}

// maxRetryBackoff caps retryBackoff.
const maxRetryBackoff = 5 * time.Minute

// retryBackoff is the delay after the n-th consecutive failure: 1s, 2s, 4s ... at most 5 minutes.
// Every controller retries on this curve (see failureRateLimiter).
func retryBackoff(failures int32) time.Duration {
	d := time.Second
	for i := int32(1); i < failures && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
