package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/notify"
)

// Pure decisions of the DashboardUser reconciler: decideUser takes the user and "now" and returns
// what this reconcile does; the reconciler only carries it out.

// userStep is the work one reconcile does besides keeping status.
type userStep int

const (
	// userSettled: nothing to deliver (Active, Invited, InviteExpired, Revoked).
	userSettled userStep = iota
	// userDeliver: make a delivery attempt (see DashboardUserReconciler.deliver).
	userDeliver
	// userWaitRetry: a failed delivery waits for its retry time.
	userWaitRetry
)

// userEvent is an Event decideUser asks for.
type userEvent struct {
	eventType, reason, message string
}

// userObserved is what one DashboardUser reconcile read: decideUser takes nothing else. Reading
// stops at the first thing that ends the reconcile (a refused spec, a backoff that holds, a failed
// read), so what follows it is zero.
type userObserved struct {
	ttl    time.Duration
	ttlErr error
	// backoff is how long a persisted backoff still holds (zero: it does not).
	backoff time.Duration
	readErr error
	reading string
	// pcs are the user's Passcodes (cache, read-only); passcodes and flip their summary and when it
	// changes by itself.
	pcs       []accessv1alpha1.Passcode
	passcodes accessv1alpha1.PasscodeSummary
	flip      time.Duration
	// missingRole is the DashboardRole spec.role names when none exists.
	missingRole string
	// enabled are the lifecycle notifications to queue (--notify-events).
	enabled notify.EventSet
}

// userDecision is the outcome of decideUser: why the reconcile stops before acting, or the status
// it leads to and the step to take.
type userDecision struct {
	// wait: a persisted backoff holds; nothing to record.
	wait time.Duration
	// stall is a spec the operator cannot act on; readErr a read to retry (reading: what).
	stall   *failure
	readErr error
	reading string

	step userStep
	// status is the user's status after the decision (before the step's own outcome).
	status accessv1alpha1.DashboardUserStatus
	// ready is the Ready condition to set; reason ReasonInviteFailed keeps the current message.
	ready  metav1.ConditionStatus
	reason string
	msg    string
	events []userEvent
	// notices are the lifecycle notifications this change calls for (user.role-changed,
	// user.access-revoked); the reconciler queues the enabled ones in the same status write.
	notices []accessv1alpha1.PendingNotification
	// requeueAt is when the state changes by itself (an invite link expiring, a retry), or zero.
	requeueAt time.Time
}

// pendingResend returns the resend annotation's value when it has not been handled yet.
func pendingResend(u *accessv1alpha1.DashboardUser) (string, bool) {
	v := u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation]
	return v, v != "" && v != u.Status.LastResendRequestedAt
}

// inviteLinkExpired: an invite link works until expiresAt, not from it.
func inviteLinkExpired(now time.Time, u *accessv1alpha1.DashboardUser) bool {
	inv := u.Status.Invite
	return inv != nil && inv.ExpiresAt != nil && !now.Before(inv.ExpiresAt.Time)
}

// accepted: the user accepted an invite (the access server stamps acceptedAt).
func accepted(u *accessv1alpha1.DashboardUser) bool {
	return u.Status.Invite != nil && u.Status.Invite.AcceptedAt != nil
}

// resetInviteStatus forgets the current invite so that a new link is made and delivered: the old
// link's hash is dropped, so it stops working at once. The number keeps counting, and the last
// attempt's time stays for the batch count.
func resetInviteStatus(st *accessv1alpha1.DashboardUserStatus) {
	next := &accessv1alpha1.InviteStatus{}
	if st.Invite != nil {
		next.Number, next.LastAttemptAt = st.Invite.Number, st.Invite.LastAttemptAt
	}
	st.Invite = next
	st.Phase = accessv1alpha1.UserPending
}

// decideUser decides one reconcile of u at now, from what was observed: every status change of
// the reconcile but a delivery's own outcome is made here, on a copy.
func decideUser(now time.Time, u *accessv1alpha1.DashboardUser, o userObserved) userDecision {
	switch {
	case o.ttlErr != nil:
		return userDecision{stall: &failure{stalled: true, reason: accessv1alpha1.ReasonInvalidSpec, message: "spec.invite.ttl: " + o.ttlErr.Error()}}
	case o.backoff > 0:
		return userDecision{wait: o.backoff}
	case o.readErr != nil:
		return userDecision{readErr: o.readErr, reading: o.reading}
	}
	d := decideLifecycle(now, u)
	d.status.PasscodeStatus = o.passcodes
	d.status.PendingNotifications = queueNotifications(d.status.PendingNotifications, d.notices, o.enabled)
	return d
}

// decideLifecycle follows access, requests and the invite.
func decideLifecycle(now time.Time, u *accessv1alpha1.DashboardUser) userDecision {
	d := userDecision{status: *u.Status.DeepCopy()}
	st := &d.status
	if old := st.ObservedRole; old != "" && old != u.Spec.Role {
		d.say(corev1.EventTypeNormal, accessv1alpha1.ReasonRoleChanged, "Role changed from %s to %s", old, u.Spec.Role)
		d.notices = append(d.notices, accessv1alpha1.PendingNotification{Type: string(notify.EventUserRoleChanged),
			Generation: u.Generation, Role: u.Spec.Role, PreviousRole: old, At: metav1.NewTime(now.Truncate(time.Second))})
	}
	st.ObservedRole = u.Spec.Role
	resend, resendAsked := pendingResend(u)
	if resendAsked {
		st.LastResendRequestedAt = resend
	}
	isAccepted := st.Invite != nil && st.Invite.AcceptedAt != nil

	if u.Spec.Access == accessv1alpha1.AccessRevoked {
		if resendAsked {
			d.say(corev1.EventTypeWarning, accessv1alpha1.ReasonResendRefused, "Resend refused: the user's access is Revoked")
		}
		if st.Phase != accessv1alpha1.UserRevoked {
			d.say(corev1.EventTypeWarning, accessv1alpha1.ReasonAccessRevoked, "Access revoked: every passcode of the user is revoked")
			d.notices = append(d.notices, accessv1alpha1.PendingNotification{Type: string(notify.EventUserAccessRevoked),
				Generation: u.Generation, Role: u.Spec.Role, At: metav1.NewTime(now.Truncate(time.Second))})
		}
		st.Phase = accessv1alpha1.UserRevoked
		if st.Invite != nil && !isAccepted {
			st.Invite.TokenHash, st.Invite.NextAttemptAt = "", nil // the invite link dies
		}
		d.ready, d.reason, d.msg = metav1.ConditionTrue, accessv1alpha1.ReasonAccessRevoked, "Access is revoked; the user's passcodes no longer work"
		return d
	}
	if st.Phase == accessv1alpha1.UserRevoked {
		d.say(corev1.EventTypeNormal, accessv1alpha1.ReasonAccessGranted, "Access granted again; revoked passcodes need a reset")
		if isAccepted {
			st.Phase = accessv1alpha1.UserActive
		} else {
			resetInviteStatus(st)
		}
	}
	if resendAsked {
		if isAccepted {
			d.say(corev1.EventTypeWarning, accessv1alpha1.ReasonResendRefused, "Resend refused: the user already accepted an invite")
		} else {
			resetInviteStatus(st)
			d.say(corev1.EventTypeNormal, accessv1alpha1.ReasonProgressing, "Resend requested: a new invite link replaces the old one")
		}
	}
	decideInvite(now, u.Spec.Email, &d)
	return d
}

// decideInvite follows the invite once access and requests are settled: accepted, expired, waiting
// for acceptance, or still to be delivered.
func decideInvite(now time.Time, email string, d *userDecision) {
	st := &d.status
	inv := st.Invite
	switch {
	case inv != nil && inv.AcceptedAt != nil:
		st.Phase = accessv1alpha1.UserActive
		inv.NextAttemptAt = nil
		d.ready, d.reason = metav1.ConditionTrue, accessv1alpha1.ReasonAccepted
		d.msg = "Accepted the invite at " + inv.AcceptedAt.UTC().Format(time.RFC3339)
		return
	case st.Phase == accessv1alpha1.UserInvited && inviteLinkExpired(now, &accessv1alpha1.DashboardUser{Status: *st}):
		st.Phase = accessv1alpha1.UserInviteExpired
		d.say(corev1.EventTypeWarning, accessv1alpha1.ReasonInviteExpired, "The invite link expired before it was accepted")
		fallthrough
	case st.Phase == accessv1alpha1.UserInviteExpired:
		d.ready, d.reason = metav1.ConditionFalse, accessv1alpha1.ReasonInviteExpired
		d.msg = fmt.Sprintf("The invite expired at %s; set the %s annotation to send a new one",
			inv.ExpiresAt.UTC().Format(time.RFC3339), accessv1alpha1.ResendInviteRequestedAtAnnotation)
		return
	case st.Phase == accessv1alpha1.UserInvited:
		d.ready, d.reason, d.msg = metav1.ConditionTrue, accessv1alpha1.ReasonInvited, invitedMessage(email, inv.ExpiresAt.Time)
		d.requeueAt = inv.ExpiresAt.Time
		return
	}

	// Pending: an invite is to be delivered.
	st.Phase = accessv1alpha1.UserPending
	if st.Invite == nil {
		st.Invite = &accessv1alpha1.InviteStatus{}
	}
	inv = st.Invite
	switch {
	case inv.NextAttemptAt != nil && now.Before(inv.NextAttemptAt.Time):
		d.step, d.requeueAt = userWaitRetry, inv.NextAttemptAt.Time
		d.ready, d.reason = metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed
	default:
		d.step = userDeliver
		d.ready, d.reason, d.msg = metav1.ConditionFalse, accessv1alpha1.ReasonProgressing, "Delivering the invite"
	}
}

func (d *userDecision) say(eventType, reason, format string, args ...any) {
	d.events = append(d.events, userEvent{eventType, reason, fmt.Sprintf(format, args...)})
}

// prepareAttempt records a delivery attempt in status (the write after the send carries it): a new
// link (the next invite number and its token's hash) when there is none, the attempt's time (the
// batch limit counts it after a restart) and its count. A crash before that write makes the retry
// compute the same number, so the same link.
func prepareAttempt(now time.Time, inv *accessv1alpha1.InviteStatus, newLinkHash func(number int32) string) {
	if inv.TokenHash == "" {
		inv.Number++
		inv.TokenHash = newLinkHash(inv.Number)
		inv.Attempts, inv.LastError = 0, ""
	}
	inv.Attempts++
	inv.LastAttemptAt = ptrTime(now.Truncate(time.Second))
	inv.NextAttemptAt = nil
}

// deliveryFailed records a failed delivery with a persisted backoff; msg holds no secret.
func deliveryFailed(now time.Time, inv *accessv1alpha1.InviteStatus, msg string) time.Duration {
	wait := retryBackoff(inv.Attempts)
	inv.LastError = msg
	inv.NextAttemptAt = ptrTime(now.Add(wait))
	return wait
}

// delivered records a delivered invite: the link works for ttl from now.
func delivered(now time.Time, st *accessv1alpha1.DashboardUserStatus, ttl time.Duration) {
	inv := st.Invite
	inv.SentAt = ptrTime(now.Truncate(time.Second))
	inv.ExpiresAt = ptrTime(now.Add(ttl).Truncate(time.Second))
	inv.LastError, inv.NextAttemptAt = "", nil
	st.Phase = accessv1alpha1.UserInvited
}

func invitedMessage(email string, expires time.Time) string {
	return fmt.Sprintf("Invite sent to %s; the link works until %s", email, expires.UTC().Format(time.RFC3339))
}

// userSummary is what Ready and Reconciling say of u: Ready from the invite's state (status,
// reason, msg), Reconciling while the user waits on the operator; never Stalled (only a spec the
// operator cannot act on stalls, see failed). missingRole names the DashboardRole spec.role names
// when none exists: the user is then not Ready (RoleNotFound), over whatever the invite's state
// says. It is a wait, not a stall: the role may be applied after the user (GitOps applies in any
// order), and its creation wakes the user. An invite still in progress keeps its own Reconciling
// reason (queued, failing, delivering); otherwise Reconciling says what the user waits for. A
// revoked user is left alone: its access is settled whatever its role. When a retry waits and no
// failure message is known, there is nothing new to say (keep).
func userSummary(u *accessv1alpha1.DashboardUser, status metav1.ConditionStatus, reason, msg, missingRole string) summary {
	if reason == accessv1alpha1.ReasonInviteFailed && msg == "" {
		// Keep the message that says why the last delivery failed: Reconciling carries it, also
		// while Ready says RoleNotFound.
		failure := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReconciling)
		if failure == nil || failure.Reason != accessv1alpha1.ReasonInviteFailed {
			return summary{keep: true} // nothing to take it from (a failed API call since says Retrying)
		}
		msg = failure.Message
	}
	s := summary{ready: status, reason: reason, message: msg}
	progress := reason == accessv1alpha1.ReasonQueued || reason == accessv1alpha1.ReasonInviteFailed || reason == accessv1alpha1.ReasonProgressing
	if progress {
		s.progress = &[2]string{reason, msg}
	}
	if missingRole != "" && u.Spec.Access != accessv1alpha1.AccessRevoked {
		s.ready, s.reason, s.message = metav1.ConditionFalse, accessv1alpha1.ReasonRoleNotFound, roleNotFoundMessage(u.Namespace, missingRole)
		if !progress {
			s.progress = &[2]string{s.reason, s.message}
		}
	}
	return s
}

// setUserConditions sets the summary conditions userSummary computes (unless it keeps them).
func setUserConditions(u *accessv1alpha1.DashboardUser, now time.Time, status metav1.ConditionStatus, reason, msg, missingRole string) {
	summarize(userBackoff(u), now, userSummary(u, status, reason, msg, missingRole))
}
