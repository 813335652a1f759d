package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// setCondition sets one condition, stamping LastTransitionTime from the injected clock (never the
// wall clock) and only when the status changes.
func setCondition(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) { //nolint:unparam,lll // one reason so far
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// backoff is the persisted retry state of an object's status: both kinds keep the same fields.
type backoff struct {
	controller string // the controller that failed, for metrics.ReconcileFailures
	conditions *[]metav1.Condition
	failures   *int32
	next       **metav1.Time
	observed   *int64 // status.observedGeneration
	generation int64
}

func passcodeBackoff(pc *accessv1alpha1.Passcode) backoff {
	return backoff{"passcode", &pc.Status.Conditions, &pc.Status.Failures, &pc.Status.NextRetryAt, &pc.Status.ObservedGeneration, pc.Generation}
}

func userBackoff(u *accessv1alpha1.DashboardUser) backoff {
	return backoff{"dashboarduser", &u.Status.Conditions, &u.Status.Failures, &u.Status.NextRetryAt, &u.Status.ObservedGeneration, u.Generation}
}

// failure is why a reconcile stopped short of its outcome. It decides the summary conditions
// (summarize): Ready False with its reason, and Stalled when only a person can fix it, else
// Reconciling (Retrying).
type failure struct {
	stalled         bool
	reason, message string
}

// failed records a failed step of a reconcile: a refusal no retry can fix stalls the object until
// it changes; anything else is retried with the persisted backoff. The error goes to the log only;
// the failure names the step and the API's reason.
func failed(ctx context.Context, b backoff, now time.Time, what string, err error) (failure, ctrl.Result) {
	if permanent(err) {
		log.FromContext(ctx).Error(err, "Refused by the API server; stalled until the object changes", "step", what)
		*b.observed = b.generation
		return refused(b, what, err), ctrl.Result{}
	}
	log.FromContext(ctx).Error(err, "Reconcile failed; retrying with backoff", "step", what, "failures", *b.failures+1)
	f, wait := retry(b, now, what, err)
	return f, ctrl.Result{RequeueAfter: wait}
}

// permanent reports an API refusal that no retry can fix: the request itself is invalid.
func permanent(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// refused stalls the object on a permanent API refusal, saying what was refused: the API server's
// reason and the fields it named, never their values (a refused status write could quote a hash).
func refused(b backoff, what string, err error) failure {
	var fields []string
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			fields = append(fields, fmt.Sprintf("%s (%s)", c.Field, c.Type))
		}
	}
	msg := fmt.Sprintf("%s was refused by the API server (%s)", what, apierrors.ReasonForError(err))
	if len(fields) > 0 {
		msg += ": " + strings.Join(fields, ", ")
	}
	return stall(b, accessv1alpha1.ReasonRefused, msg)
}

// retry records a transient failure with a persisted, growing backoff and returns the wait. The
// message names the step and the API's reason, never the error's full text (which could quote
// object data).
func retry(b backoff, now time.Time, what string, err error) (failure, time.Duration) {
	countFailure(b.controller, apiReason(err))
	*b.failures++
	wait := retryBackoff(*b.failures)
	*b.next = ptrTime(now.Add(wait))
	msg := fmt.Sprintf("%s failed (%s); retry %d in %s", what, apierrors.ReasonForError(err), *b.failures, wait)
	return failure{reason: accessv1alpha1.ReasonRetrying, message: msg}, wait
}

// succeeded clears the backoff after a reconcile that reached its outcome.
func succeeded(b backoff) {
	*b.failures, *b.next = 0, nil
}

// backingOff reports how long a persisted backoff still holds, when it does. A spec change since
// the failure (the Ready condition names an older generation) retries at once.
func backingOff(b backoff, now time.Time) (time.Duration, bool) {
	if *b.next == nil || !now.Before((*b.next).Time) {
		return 0, false
	}
	if ready := apimeta.FindStatusCondition(*b.conditions, accessv1alpha1.ConditionReady); ready == nil || ready.ObservedGeneration != b.generation {
		return 0, false
	}
	return (*b.next).Sub(now), true
}

// stall records a problem only a person can fix: no retry until the object changes.
func stall(b backoff, reason, msg string) failure {
	countFailure(b.controller, reason)
	succeeded(b)
	return failure{stalled: true, reason: reason, message: msg}
}

// summary is what the summary conditions say after one reconcile: Ready, and Reconciling while the
// object waits on the operator. A reconcile computes it once, from its plan and outcome, and
// summarize sets it once: no step overwrites another's Ready.
type summary struct {
	ready           metav1.ConditionStatus // "": Ready stays as it is
	reason, message string
	// progress, when set, is why the object is Reconciling (its reason and message).
	progress *[2]string
	// fail, when set, decides everything (see failure).
	fail *failure
	// keep: nothing new to say; the conditions stay as they are.
	keep bool
}

// summarize sets Ready, Reconciling and Stalled from s: the one place they are set. Conditions
// whose content does not change keep their transition time (setCondition).
func summarize(b backoff, now time.Time, s summary) {
	conds, gen := b.conditions, b.generation
	if s.keep {
		return
	}
	if f := s.fail; f != nil {
		setCondition(conds, accessv1alpha1.ConditionReady, metav1.ConditionFalse, f.reason, f.message, gen, now)
		if f.stalled {
			setCondition(conds, accessv1alpha1.ConditionStalled, metav1.ConditionTrue, f.reason, f.message, gen, now)
			apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionReconciling)
			return
		}
		setCondition(conds, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue, f.reason, f.message, gen, now)
		apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionStalled)
		return
	}
	if s.ready != "" { // else Ready stays as it is
		setCondition(conds, accessv1alpha1.ConditionReady, s.ready, s.reason, s.message, gen, now)
	}
	if p := s.progress; p != nil {
		setCondition(conds, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue, p[0], p[1], gen, now)
	} else {
		apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionReconciling)
	}
	apimeta.RemoveStatusCondition(conds, accessv1alpha1.ConditionStalled)
}

// The one error policy of every controller: a failure is counted in
// access_operator_reconcile_failures_total{controller,reason} wherever it ends (in status, for the
// Passcode and DashboardUser reconcilers, which return no errors; as a returned error for the
// others, see countFailures), and is retried on one curve, retryBackoff: persisted in status where
// status has the fields, controller-runtime's per-object rate limiter set to the same curve
// (failureRateLimiter) elsewhere.

// countFailure counts one failed reconcile.
func countFailure(controller, reason string) {
	metrics.ReconcileFailures.WithLabelValues(controller, reason).Inc()
}

// apiReason is the API server's reason for err (a bounded set of words), or Unknown.
func apiReason(err error) string {
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return string(r)
	}
	return string(metav1.StatusReasonUnknown)
}

// failureRateLimiter is retryBackoff as controller-runtime's per-object rate limiter: 1s, 2s, 4s
// ... at most 5 minutes, for the controllers that return their errors.
func failureRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, maxRetryBackoff)
}

// countFailures wraps a reconciler that returns its errors: each one is counted (countFailure).
func countFailures(controller string, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			countFailure(controller, apiReason(err))
		}
		return res, err
	})
}

// statusWriteFailed turns a failed status write into a retry after the backoff the status would
// have recorded. The error is logged here and not returned: controller-runtime ignores RequeueAfter
// next to an error, and its own per-item backoff grows with every failure of an outage, so a
// recovered API server would wait on it for many seconds.
func statusWriteFailed(ctx context.Context, err error, failures int32) ctrl.Result {
	log.FromContext(ctx).Error(err, "Writing status failed; retrying with backoff", "failures", failures)
	return ctrl.Result{RequeueAfter: retryBackoff(max(failures, 1))}
}

// patchStatus writes obj's status as a merge patch against before, and only when it changed:
// writing an unchanged status would wake every watcher for nothing (status churn makes hot loops).
// The patch carries no resourceVersion, so a concurrent status writer (the access server's last-use
// stamps) is not overwritten field by field and no conflict retry is needed, except when it adds a
// failure (addsFailure): a failure is recorded only on the status it was seen with. From a cached
// copy that is behind, the patch would land on a newer status and leave the failure there, where no
// later reconcile looks (status writes trigger none); under the lock such a write conflicts.
// wrote says whether a patch was sent.
func patchStatus[T client.Object](ctx context.Context, c client.Client, before, obj T, statusOf func(T) any,
	addsFailure bool) (wrote bool, err error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return false, nil
	}
	patch := client.MergeFrom(before)
	if addsFailure {
		patch = client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	}
	return true, c.Status().Patch(ctx, obj, patch)
}
