package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/notify"
)

// DashboardUserReconciler invites users, follows their invites to acceptance or expiry, records
// role and access changes, and summarises their Passcodes. Revoking access is enforced by the
// Passcode controller (it watches users) and the access server (it checks the user on every request).
type DashboardUserReconciler struct {
	client.Client
	// APIReader reads straight from the API server: a delivery is made only after a live read
	// confirms the cache is current, so a lagging cache never sends a second invite.
	APIReader client.Reader
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events; never with a token.
	Recorder events.EventRecorder
	// Notifier delivers invites.
	Notifier notify.Notifier
	// Batcher paces invites: at most --invite-batch-size per window.
	Batcher *invite.Batcher
	// PublicURL is the base of accept links.
	PublicURL string

	// tokens keeps the token of an invite link while its delivery is retried, so that every retry
	// carries the same link and idempotency key. After a restart a retry makes a new link.
	tokens sync.Map // user UID -> heldToken
}

type heldToken struct {
	number int32
	token  string
}

// sendTimeout bounds one delivery, so a hung SMTP server cannot hold a worker for long.
const sendTimeout = 30 * time.Second

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves one DashboardUser through Pending, Invited, Active, InviteExpired and Revoked.
func (r *DashboardUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	u := &accessv1alpha1.DashboardUser{}
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !u.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its Passcodes go with it (owner references)
	}
	now := r.Clock.Now()
	before := u.DeepCopy()
	defer func() {
		if err := patchStatus(ctx, r.Client, before, u, userStatus); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	ttl, err := duration.InviteTTL(inviteTTL(u))
	if err != nil {
		r.userCondition(u, now, metav1.ConditionFalse, accessv1alpha1.ReasonInvalidSpec, "spec.invite.ttl: "+err.Error(), true)
		return ctrl.Result{}, nil
	}
	r.observeRole(u)
	summary, flip, err := r.passcodeSummary(ctx, u, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	u.Status.PasscodeStatus = summary
	u.Status.ObservedGeneration = u.Generation
	after := func(res ctrl.Result) ctrl.Result { return mergeResults(res, ctrl.Result{RequeueAfter: flip}) }

	if u.Spec.Access == accessv1alpha1.AccessRevoked {
		r.revoke(u, now)
		return after(ctrl.Result{}), nil
	}
	if u.Status.Phase == accessv1alpha1.UserRevoked {
		r.event(u, corev1.EventTypeNormal, accessv1alpha1.ReasonAccessGranted, "Access granted again; revoked passcodes need a reset")
		if accepted(u) {
			u.Status.Phase = accessv1alpha1.UserActive
		} else {
			r.forgetToken(u)
			resetInvite(u)
		}
	}
	r.handleResend(u)

	switch {
	case accepted(u):
		u.Status.Phase = accessv1alpha1.UserActive
		u.Status.Invite.NextAttemptAt = nil
		r.userCondition(u, now, metav1.ConditionTrue, accessv1alpha1.ReasonAccepted,
			fmt.Sprintf("Accepted the invite at %s", u.Status.Invite.AcceptedAt.UTC().Format(time.RFC3339)), false)
		return after(ctrl.Result{}), nil
	case u.Status.Phase == accessv1alpha1.UserInvited && inviteLinkExpired(now, u):
		u.Status.Phase = accessv1alpha1.UserInviteExpired
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonInviteExpired, "The invite link expired before it was accepted")
		fallthrough
	case u.Status.Phase == accessv1alpha1.UserInviteExpired:
		r.userCondition(u, now, metav1.ConditionFalse, accessv1alpha1.ReasonInviteExpired, fmt.Sprintf(
			"The invite expired at %s; set the %s annotation to send a new one", u.Status.Invite.ExpiresAt.UTC().Format(time.RFC3339),
			accessv1alpha1.ResendInviteRequestedAtAnnotation), false)
		return after(ctrl.Result{}), nil
	case u.Status.Phase == accessv1alpha1.UserInvited:
		r.userCondition(u, now, metav1.ConditionTrue, accessv1alpha1.ReasonInvited, fmt.Sprintf(
			"Invite sent to %s; the link works until %s", u.Spec.Email, u.Status.Invite.ExpiresAt.UTC().Format(time.RFC3339)), false)
		return after(ctrl.Result{RequeueAfter: u.Status.Invite.ExpiresAt.Sub(now)}), nil
	}
	return after(r.deliver(ctx, u, before, now, ttl)), nil
}

// deliver sends the invite of a Pending user, within the batch limit and the persisted backoff.
func (r *DashboardUserReconciler) deliver(ctx context.Context, u, before *accessv1alpha1.DashboardUser, now time.Time, ttl time.Duration) ctrl.Result {
	u.Status.Phase = accessv1alpha1.UserPending
	if u.Status.Invite == nil {
		u.Status.Invite = &accessv1alpha1.InviteStatus{}
	}
	inv := u.Status.Invite
	if inv.NextAttemptAt != nil && now.Before(inv.NextAttemptAt.Time) {
		return ctrl.Result{RequeueAfter: inv.NextAttemptAt.Sub(now)}
	}
	live := &accessv1alpha1.DashboardUser{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(u), live); err != nil || live.ResourceVersion != u.ResourceVersion {
		// The cache is behind (often our own last status write): the newer object comes by watch.
		return ctrl.Result{RequeueAfter: time.Second}
	}
	if ok, wait := r.Batcher.Reserve(now); !ok {
		r.userCondition(u, now, metav1.ConditionFalse, accessv1alpha1.ReasonQueued,
			fmt.Sprintf("Waiting for the next invite batch (at most %d at a time)", r.Batcher.Size), false)
		return ctrl.Result{RequeueAfter: wait}
	}

	token := r.tokenFor(u)
	if token == "" {
		// A new link: its hash is stored before it is sent, so it works as soon as it arrives.
		token = invite.NewToken()
		inv.Number++
		inv.TokenHash = invite.Hash(token)
		inv.Attempts, inv.LastError = 0, ""
		r.tokens.Store(u.UID, heldToken{number: inv.Number, token: token})
		if err := patchStatus(ctx, r.Client, before, u, userStatus); err != nil {
			r.forgetToken(u)
			log.FromContext(ctx).Error(err, "Recording the new invite link")
			return ctrl.Result{RequeueAfter: time.Second}
		}
		// The patch refreshed u from the server: later changes go to its status, and the final
		// patch is computed against what is stored now.
		before.Status = *u.Status.DeepCopy()
		inv = u.Status.Invite
	}

	inv.Attempts++
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	err := r.Notifier.Send(sendCtx, notify.Invite{
		Project:        u.Namespace,
		Email:          u.Spec.Email,
		DisplayName:    u.Spec.DisplayName,
		Role:           string(u.Spec.Role),
		AcceptURL:      strings.TrimSuffix(r.PublicURL, "/") + "/invitations/" + token,
		ExpiresAt:      now.Add(ttl).Truncate(time.Second),
		IdempotencyKey: fmt.Sprintf("%s-%d", u.UID, inv.Number),
	})
	cancel()
	if err != nil {
		// Notifiers keep the link out of their errors; strip it anyway before it reaches status.
		msg := strings.ReplaceAll(err.Error(), token, "<token>")
		metrics.InviteDeliveries.WithLabelValues(u.Namespace, "failed").Inc()
		wait := retryBackoff(inv.Attempts)
		inv.LastError = msg
		inv.NextAttemptAt = ptrTime(now.Add(wait))
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonInviteFailed, "Delivering the invite failed (attempt %d): %s", inv.Attempts, msg)
		r.userCondition(u, now, metav1.ConditionFalse, accessv1alpha1.ReasonInviteFailed,
			fmt.Sprintf("Delivering the invite failed (attempt %d, retry in %s): %s", inv.Attempts, wait, msg), false)
		return ctrl.Result{RequeueAfter: wait}
	}
	r.forgetToken(u)
	metrics.InviteDeliveries.WithLabelValues(u.Namespace, "sent").Inc()
	inv.SentAt = ptrTime(now.Truncate(time.Second))
	inv.ExpiresAt = ptrTime(now.Add(ttl).Truncate(time.Second))
	inv.LastError, inv.NextAttemptAt = "", nil
	u.Status.Phase = accessv1alpha1.UserInvited
	r.event(u, corev1.EventTypeNormal, accessv1alpha1.ReasonInvited, "Invite %d sent to %s as %s", inv.Number, u.Spec.Email, u.Spec.Role)
	r.userCondition(u, now, metav1.ConditionTrue, accessv1alpha1.ReasonInvited, fmt.Sprintf(
		"Invite sent to %s; the link works until %s", u.Spec.Email, inv.ExpiresAt.UTC().Format(time.RFC3339)), false)
	return ctrl.Result{RequeueAfter: inv.ExpiresAt.Sub(now)}
}

// tokenFor returns the held token of the user's current link, or "" when a new link is needed.
func (r *DashboardUserReconciler) tokenFor(u *accessv1alpha1.DashboardUser) string {
	v, ok := r.tokens.Load(u.UID)
	if !ok {
		return ""
	}
	held := v.(heldToken)
	if held.number != u.Status.Invite.Number || invite.Hash(held.token) != u.Status.Invite.TokenHash {
		r.tokens.Delete(u.UID)
		return ""
	}
	return held.token
}

func (r *DashboardUserReconciler) forgetToken(u *accessv1alpha1.DashboardUser) {
	r.tokens.Delete(u.UID)
}

// revoke makes the user Revoked: the invite link dies, and the Passcode controller revokes every
// passcode of the user.
func (r *DashboardUserReconciler) revoke(u *accessv1alpha1.DashboardUser, now time.Time) {
	if v, asked := pendingResend(u); asked {
		u.Status.LastResendRequestedAt = v
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonResendRefused, "Resend refused: the user's access is Revoked")
	}
	if u.Status.Phase != accessv1alpha1.UserRevoked {
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonAccessRevoked, "Access revoked: every passcode of the user is revoked")
	}
	u.Status.Phase = accessv1alpha1.UserRevoked
	r.forgetToken(u)
	if u.Status.Invite != nil && !accepted(u) {
		u.Status.Invite.TokenHash = ""
		u.Status.Invite.NextAttemptAt = nil
	}
	r.userCondition(u, now, metav1.ConditionTrue, accessv1alpha1.ReasonAccessRevoked,
		"Access is revoked; the user's passcodes no longer work", false)
}

// handleResend acts on a new resend annotation value: a new link replaces the old one.
func (r *DashboardUserReconciler) handleResend(u *accessv1alpha1.DashboardUser) {
	v, asked := pendingResend(u)
	if !asked {
		return
	}
	u.Status.LastResendRequestedAt = v
	if accepted(u) {
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonResendRefused, "Resend refused: the user already accepted an invite")
		return
	}
	r.forgetToken(u)
	resetInvite(u)
	r.event(u, corev1.EventTypeNormal, accessv1alpha1.ReasonProgressing, "Resend requested: a new invite link replaces the old one")
}

// observeRole reports a role edit with its old value.
func (r *DashboardUserReconciler) observeRole(u *accessv1alpha1.DashboardUser) {
	if old := u.Status.ObservedRole; old != "" && old != u.Spec.Role {
		r.event(u, corev1.EventTypeNormal, accessv1alpha1.ReasonRoleChanged, "Role changed from %s to %s", old, u.Spec.Role)
	}
	u.Status.ObservedRole = u.Spec.Role
}

func (r *DashboardUserReconciler) passcodeSummary(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time) (
	accessv1alpha1.PasscodeSummary, time.Duration, error) {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.InNamespace(u.Namespace), client.MatchingFields{UserRefIndex: u.Name}); err != nil {
		return "", 0, err
	}
	s, next := summarizePasscodes(now, list.Items)
	return s, next, nil
}

// userCondition sets Ready, and Reconciling while the user waits on the operator.
func (r *DashboardUserReconciler) userCondition(u *accessv1alpha1.DashboardUser, now time.Time, status metav1.ConditionStatus,
	reason, msg string, stalled bool) {
	conds := &u.Status.Conditions
	setCondition(conds, accessv1alpha1.ConditionReady, status, reason, msg, u.Generation, now)
	working := reason == accessv1alpha1.ReasonQueued || reason == accessv1alpha1.ReasonInviteFailed
	if working {
		setCondition(conds, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg, u.Generation, now)
	} else {
		apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionReconciling)
	}
	if stalled {
		setCondition(conds, accessv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg, u.Generation, now)
	} else {
		apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionStalled)
	}
}

func (r *DashboardUserReconciler) event(u *accessv1alpha1.DashboardUser, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(u, nil, eventType, reason, reason, format, args...)
	}
}

func inviteTTL(u *accessv1alpha1.DashboardUser) string {
	if u.Spec.Invite == nil {
		return ""
	}
	return u.Spec.Invite.TTL
}

// mergeResults keeps the lowest non-zero RequeueAfter.
func mergeResults(a, b ctrl.Result) ctrl.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

func userStatus(u *accessv1alpha1.DashboardUser) any { return u.Status }

// SetupWithManager registers the reconciler: users, and the Passcodes that name them.
func (r *DashboardUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardUser{}).
		Watches(&accessv1alpha1.Passcode{}, handler.EnqueueRequestsFromMapFunc(userOfPasscode)).
		// Deliveries wait on SMTP or a webhook: several at once, so one slow invite holds up no other.
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Named("dashboarduser").
		Complete(r)
}

func userOfPasscode(_ context.Context, o client.Object) []reconcile.Request {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}}}
}
