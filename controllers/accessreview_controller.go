package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// Reasons of an AccessReview's Ready condition and Events.
const (
	ReasonReviewOpen      = "Open"
	ReasonReviewCompleted = "Completed"
	ReasonReviewScheduled = "Scheduled"
	ReasonTooManyUsers    = "TooManyUsers"
	ReasonRevokedByReview = "RevokedByReview"
)

// RevokedByAnnotation is the API's (kept here for the controllers' tests and callers).
const RevokedByAnnotation = accessv1alpha1.RevokedByAnnotation

// AccessReviewReconciler runs access reviews: it records the users when a review is created, counts
// the decisions while it is open, carries them out at the deadline (revoking access) and keeps the
// evidence in status; a review with spec.schedule creates reviews on its schedule instead.
type AccessReviewReconciler struct {
	client.Client
	// APIReader reads a review live before its deadline is carried out, so that a decision made a
	// moment before is not missed by a cache behind it.
	APIReader client.Reader
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=accessreviews,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=accessreviews/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch;patch

// Reconcile observes one review and the users of its namespace from the cache, decides, and writes
// status once.
func (r *AccessReviewReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rv := &accessv1alpha1.AccessReview{}
	if err := r.Get(ctx, req.NamespacedName, rv); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rv.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	before := rv.DeepCopy()
	if rv.Spec.Schedule != "" {
		return r.reconcileSchedule(ctx, before, rv, now)
	}
	if rv.Status.Phase == accessv1alpha1.ReviewCompleted {
		return ctrl.Result{}, nil // the evidence is final: later edits change nothing
	}
	locked := false // the snapshot and the completion are written once, on the status they were computed from
	if rv.Status.SnapshotAt == nil {
		if err := r.takeSnapshot(ctx, rv, now); err != nil {
			rv.Status.Phase = accessv1alpha1.ReviewInvalid
			setCondition(&rv.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionFalse, reasonOf(err), err.Error(), rv.Generation, now)
			rv.Status.ObservedGeneration = rv.Generation
			_, werr := patchStatus(ctx, r.Client, before, rv, reviewStatus, true)
			return ctrl.Result{}, ignoreGone(werr)
		}
		locked = true
	}
	if !now.Before(rv.Spec.Deadline.Time) {
		done, err := r.readLive(ctx, before, rv)
		if done || err != nil {
			return ctrl.Result{}, ignoreGone(err)
		}
	}
	decided, undecided, unknown := tally(rv)
	rv.Status.Total, rv.Status.Decided, rv.Status.Undecided, rv.Status.UnknownDecisions = int32(len(rv.Status.Users)), decided, undecided, unknown //nolint:gosec,lll // at most MaxReviewUsers
	rv.Status.ObservedGeneration = rv.Generation
	deadline := rv.Spec.Deadline.Time
	var result ctrl.Result
	if now.Before(deadline) {
		setCondition(&rv.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReviewOpen,
			reviewMessage(decided, undecided, unknown, deadline, rv.Spec.DefaultDecision), rv.Generation, now)
		result.RequeueAfter = deadline.Sub(now)
	} else {
		if err := r.complete(ctx, rv, now); err != nil {
			return ctrl.Result{}, err // retried with backoff; the revocations done so far are idempotent
		}
		locked = true
	}
	if _, err := patchStatus(ctx, r.Client, before, rv, reviewStatus, locked); err != nil {
		return ctrl.Result{}, ignoreGone(err)
	}
	if rv.Status.Phase == accessv1alpha1.ReviewCompleted {
		r.event(rv, nil, corev1.EventTypeNormal, ReasonReviewCompleted, "%d users kept, %d revoked", rv.Status.Kept, rv.Status.Revoked)
	}
	return result, nil
}

// readLive replaces the cached review with the stored one before its deadline is carried out, so
// that a decision made a moment before is not missed by a cache behind it; the status patch is then
// computed against, and locked to, the stored review. done: it is already completed.
func (r *AccessReviewReconciler) readLive(ctx context.Context, before, rv *accessv1alpha1.AccessReview) (done bool, err error) {
	if r.APIReader == nil {
		return false, nil
	}
	live := &accessv1alpha1.AccessReview{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rv), live); err != nil {
		return false, err
	}
	if live.Status.Phase == accessv1alpha1.ReviewCompleted {
		return true, nil
	}
	rv.Spec, rv.Generation, rv.Labels = live.Spec, live.Generation, live.Labels
	if live.Status.SnapshotAt != nil {
		rv.Status.Users, rv.Status.SnapshotAt, rv.Status.PreviousReview = live.Status.Users, live.Status.SnapshotAt, live.Status.PreviousReview
		rv.Status.Phase = live.Status.Phase
	}
	before.ResourceVersion, rv.ResourceVersion = live.ResourceVersion, live.ResourceVersion
	before.Status = *live.Status.DeepCopy()
	return false, nil
}

// takeSnapshot records the users the review covers, and the review it will be compared with.
func (r *AccessReviewReconciler) takeSnapshot(ctx context.Context, rv *accessv1alpha1.AccessReview, now time.Time) error {
	sel, err := reviewSelector(rv)
	if err != nil {
		return invalidSpec{err}
	}
	// The snapshot is the evidence, taken once: read live (in pages), so that a user created a moment
	// before the review, which the cache may not show yet, is in it.
	reader := client.Reader(r.Client)
	if r.APIReader != nil {
		reader = r.APIReader
	}
	var users []accessv1alpha1.DashboardUser
	if err := listPages(ctx, reader, &accessv1alpha1.DashboardUserList{}, func(l *accessv1alpha1.DashboardUserList) {
		users = append(users, l.Items...)
	}, client.InNamespace(rv.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return err
	}
	var passcodes []accessv1alpha1.Passcode
	if err := listPages(ctx, reader, &accessv1alpha1.PasscodeList{}, func(l *accessv1alpha1.PasscodeList) {
		passcodes = append(passcodes, l.Items...)
	}, client.InNamespace(rv.Namespace)); err != nil {
		return err
	}
	snap, err := snapshot(sel, users, passcodes)
	if err != nil {
		return tooManyUsers{err}
	}
	reviews := &accessv1alpha1.AccessReviewList{}
	if err := r.List(ctx, reviews, client.InNamespace(rv.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	rv.Status.Users, rv.Status.SnapshotAt, rv.Status.Phase = snap, ptrTime(now), accessv1alpha1.ReviewOpen
	rv.Status.PreviousReview = previousReview(rv, reviews.Items, now)
	log.FromContext(ctx).Info("Access review opened", "users", len(snap), "deadline", rv.Spec.Deadline.UTC())
	return nil
}

// snapshotPage is how many objects one live list of a snapshot returns.
const snapshotPage = 500

// listPages lists into list page by page (the API server's pages of snapshotPage), calling each
// with every page.
func listPages[L client.ObjectList](ctx context.Context, reader client.Reader, list L, each func(L), opts ...client.ListOption) error {
	cont := ""
	for {
		if err := reader.List(ctx, list, append(opts, client.Limit(snapshotPage), client.Continue(cont))...); err != nil {
			return err
		}
		each(list)
		if cont = list.GetContinue(); cont == "" {
			return nil
		}
	}
}

// invalidSpec and tooManyUsers are snapshot failures only a person can fix (Ready's reason says which).
type invalidSpec struct{ error }
type tooManyUsers struct{ error }

func reasonOf(err error) string {
	switch err.(type) {
	case invalidSpec:
		return accessv1alpha1.ReasonInvalidSpec
	case tooManyUsers:
		return ReasonTooManyUsers
	}
	return accessv1alpha1.ReasonRetrying
}

// complete carries out the decisions: each user decided Revoke (or undecided, with the default
// Revoke) loses its access, and status records every user's decision and outcome.
func (r *AccessReviewReconciler) complete(ctx context.Context, rv *accessv1alpha1.AccessReview, now time.Time) error {
	var kept, revoked int32
	for _, a := range deadlineActions(rv) {
		ru := &rv.Status.Users[a.index]
		ru.Decision, ru.DecidedBy, ru.DecidedAt, ru.Reason = a.decision.Decision, a.decision.DecidedBy, a.decision.DecidedAt, a.decision.Reason
		u := &accessv1alpha1.DashboardUser{}
		err := r.Get(ctx, types.NamespacedName{Namespace: rv.Namespace, Name: ru.Name}, u)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && (string(u.UID) != ru.UID || !u.DeletionTimestamp.IsZero())):
			ru.Outcome = accessv1alpha1.OutcomeRemoved
			continue
		case err != nil:
			return err
		}
		if !a.revoke {
			ru.Outcome = accessv1alpha1.OutcomeKept
			kept++
			continue
		}
		if u.Spec.Access == accessv1alpha1.AccessRevoked {
			ru.Outcome = accessv1alpha1.OutcomeAlreadyRevoked
			if u.Annotations[RevokedByAnnotation] == "accessreview/"+rv.Name {
				ru.Outcome = accessv1alpha1.OutcomeRevoked // by this review, in an attempt whose status write failed
				revoked++
			}
			continue
		}
		if err := r.revoke(ctx, rv, u, a); err != nil {
			return fmt.Errorf("revoking %s: %w", u.Name, err)
		}
		ru.Outcome = accessv1alpha1.OutcomeRevoked
		revoked++
	}
	rv.Status.Phase, rv.Status.CompletedAt, rv.Status.Kept, rv.Status.Revoked = accessv1alpha1.ReviewCompleted, ptrTime(now), kept, revoked
	setCondition(&rv.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReviewCompleted,
		fmt.Sprintf("Completed: %d kept, %d revoked, %d already revoked or removed", kept, revoked, rv.Status.Total-kept-revoked), rv.Generation, now)
	return nil
}

// revoke sets the user's spec.access to Revoked (the users page's "Revoke access"), naming the
// review in an annotation. The patch carries the user's resourceVersion: a user edited meanwhile
// is read again rather than overwritten.
func (r *AccessReviewReconciler) revoke(ctx context.Context, rv *accessv1alpha1.AccessReview, u *accessv1alpha1.DashboardUser, a reviewAction) error {
	changed := u.DeepCopy()
	changed.Spec.Access = accessv1alpha1.AccessRevoked
	if changed.Annotations == nil {
		changed.Annotations = map[string]string{}
	}
	changed.Annotations[RevokedByAnnotation] = "accessreview/" + rv.Name
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(u, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	metrics.ReviewRevocations.WithLabelValues(rv.Namespace).Inc()
	why := "undecided at the deadline: the default decision"
	switch {
	case a.explicit && a.decision.DecidedBy != "":
		why = "decided Revoke by " + a.decision.DecidedBy
	case a.explicit:
		why = "decided Revoke"
	}
	log.FromContext(ctx).Info("Access revoked by an access review", "user", u.Name, "why", why)
	r.event(u, rv, corev1.EventTypeWarning, ReasonRevokedByReview, "Access revoked by access review %s (%s)", rv.Name, why)
	return nil
}

// reconcileSchedule creates the review due at the latest schedule time, if any, and waits for the next.
func (r *AccessReviewReconciler) reconcileSchedule(ctx context.Context, before, rv *accessv1alpha1.AccessReview, now time.Time) (ctrl.Result, error) {
	rv.Status.ObservedGeneration = rv.Generation
	sched, open, err := reviewSchedule(rv)
	if err != nil {
		rv.Status.Phase = accessv1alpha1.ReviewInvalid
		rv.Status.NextScheduleTime = nil
		setCondition(&rv.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonInvalidSpec, err.Error(), rv.Generation, now)
		_, werr := patchStatus(ctx, r.Client, before, rv, reviewStatus, false)
		return ctrl.Result{}, ignoreGone(werr)
	}
	// Times after the last review made count; before the first, those after the creation, or after
	// the first time this controller announced (the API server's clock may be ahead of ours).
	last := rv.CreationTimestamp.Time
	switch {
	case rv.Status.LastScheduleTime != nil:
		last = rv.Status.LastScheduleTime.Time
	case rv.Status.NextScheduleTime != nil:
		last = rv.Status.NextScheduleTime.Add(-time.Second)
	case last.After(now):
		last = now
	}
	due, next := dueTick(sched, last, now)
	if !due.IsZero() {
		child := scheduledReview(rv, due, open)
		if err := r.Create(ctx, child); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, err
		}
		rv.Status.LastScheduleTime, rv.Status.LastCreated = ptrTime(due), child.Name
		log.FromContext(ctx).Info("Scheduled access review created", "review", child.Name, "deadline", child.Spec.Deadline.UTC())
	}
	rv.Status.Phase = accessv1alpha1.ReviewScheduled
	msg := "No review created yet"
	if rv.Status.LastCreated != "" {
		msg = "Last created " + rv.Status.LastCreated
	}
	var result ctrl.Result
	if next.IsZero() {
		rv.Status.NextScheduleTime = nil
		msg += "; the schedule has no later time"
	} else {
		rv.Status.NextScheduleTime = ptrTime(next)
		msg += "; next at " + next.UTC().Format(time.RFC3339)
		result.RequeueAfter = next.Sub(now)
	}
	setCondition(&rv.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReviewScheduled, msg, rv.Generation, now)
	if _, err := patchStatus(ctx, r.Client, before, rv, reviewStatus, false); err != nil {
		return ctrl.Result{}, ignoreGone(err)
	}
	return result, nil
}

func reviewStatus(rv *accessv1alpha1.AccessReview) any { return rv.Status }

// event records an Event on regarding (a review, or a user with the review as related).
func (r *AccessReviewReconciler) event(regarding client.Object, related *accessv1alpha1.AccessReview, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	var rel client.Object
	if related != nil && regarding != client.Object(related) {
		rel = related
	}
	r.Recorder.Eventf(regarding, rel, eventType, reason, reason, format, args...)
}

// SetupWithManager registers the reconciler. Reviews wake on their own spec changes (decisions, a
// deadline moved), on an annotation change (a person's nudge) and on time (RequeueAfter the deadline
// or the next schedule time); user changes do not matter to a snapshot once taken.
func (r *AccessReviewReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.AccessReview{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WithOptions(controller.Options{RateLimiter: failureRateLimiter()}).
		Named("accessreview").
		Complete(countFailures("accessreview", r))
}
