package controllers

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/consumers"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=patch

// restartsFieldManager owns what PasscodeRestartReconciler records: status.rolloutRestart's
// restartedAt and missing, written by server-side apply, so no other status writer overwrites them.
const restartsFieldManager = "access-operator-restarts"

// PasscodeRestartReconciler restarts spec.rolloutRestartTargets for a Passcode's new revision,
// once. The Passcode reconciler marks the restart due (status.rolloutRestart.revision, markRestartDue)
// in the status write that records the revision, after the Secret holds it; this reconciler
// restarts the workloads and records the outcome. status.rolloutRestart.restartedAt says it is
// done, so neither a re-reconcile nor another Passcode restarting the same workload since makes it
// happen again. A crash before that write repeats the restart, which changes nothing the second
// time (the annotation's value is derived from the revision: see consumers.Value).
type PasscodeRestartReconciler struct {
	client.Client
	// Clock is the only source of "now".
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder

	// recorded remembers, per Passcode, the last restart this process made: until the cache shows
	// its record, a reconcile (woken by another status write, or retrying a record that conflicted)
	// records it again rather than restart the workloads and tell of it twice. A Passcode's entry
	// goes with it.
	recorded sync.Map
}

// restartRecord is an outcome recorded for the revision of the Passcode with uid.
type restartRecord struct {
	uid      types.UID
	revision int64
	at       time.Time
	missing  []string
}

// markRestartDue records, in the status written with a new revision, that its workloads are to be
// restarted. Only a revision that replaces another calls for it (a rotation, a reset, a repair):
// the first passcode's consumers start with it. A restart still due for an older revision is
// superseded: the new one restarts them anyway.
func markRestartDue(pc *accessv1alpha1.Passcode) {
	if pc.Status.Revision > 1 && len(pc.Spec.RolloutRestartTargets) > 0 {
		pc.Status.RolloutRestart = &accessv1alpha1.RolloutRestartStatus{Revision: pc.Status.Revision}
	}
}

// restartDue: the current revision's restart is marked and not done yet.
func restartDue(pc *accessv1alpha1.Passcode) bool {
	st := pc.Status.RolloutRestart
	return st != nil && st.RestartedAt == nil && st.Revision == pc.Status.Revision &&
		pc.Status.Phase == accessv1alpha1.PasscodeActive && pc.Status.IssuedAt != nil && pc.DeletionTimestamp.IsZero()
}

// Reconcile observes the Passcode (a restart due?), restarts the targets, and records the outcome
// in one status write. A failure is returned: retried on the one retry curve and counted.
func (r *PasscodeRestartReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil || !restartDue(pc) {
		if apierrors.IsNotFound(err) {
			r.recorded.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	st := pc.Status.RolloutRestart
	if v, ok := r.recorded.Load(req.NamespacedName); ok {
		if done := v.(restartRecord); done.uid == pc.UID && done.revision == st.Revision {
			return r.result(r.record(ctx, pc, done))
		}
	}
	out, err := consumers.Restart(ctx, r.Client, pc.Namespace, pc.Spec.RolloutRestartTargets,
		consumers.Value(pc.Status.IssuedAt.Time, pc.Status.Revision))
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(out.Restarted) > 0 {
		metrics.RolloutRestarts.WithLabelValues(pc.Namespace).Add(float64(len(out.Restarted)))
		r.event(pc, corev1.EventTypeNormal, accessv1alpha1.ReasonRolloutRestarted, "Restarted %s for revision %d",
			strings.Join(out.Restarted, ", "), st.Revision)
	}
	if len(out.Missing) > 0 {
		r.event(pc, corev1.EventTypeWarning, accessv1alpha1.ReasonRestartTargetNotFound,
			"%s not found in namespace %s: nothing restarted there for revision %d", strings.Join(out.Missing, ", "), pc.Namespace, st.Revision)
	}
	done := restartRecord{uid: pc.UID, revision: st.Revision, at: r.Clock.Now().Truncate(time.Second), missing: out.Missing}
	r.recorded.Store(req.NamespacedName, done) // a failed record is retried without restarting again
	return r.result(r.record(ctx, pc, done))
}

// result ends a reconcile after the record's write: a conflict (the Passcode changed meanwhile)
// looks again.
func (r *PasscodeRestartReconciler) result(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

// record applies status.rolloutRestart for the revision restarted, under restartsFieldManager and
// on the resourceVersion it was read at: a Passcode that moved on to another revision meanwhile
// conflicts instead of getting an old revision's outcome.
func (r *PasscodeRestartReconciler) record(ctx context.Context, pc *accessv1alpha1.Passcode, done restartRecord) error {
	at, missing := done.at, done.missing
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("Passcode"))
	obj.SetNamespace(pc.Namespace)
	obj.SetName(pc.Name)
	obj.SetResourceVersion(pc.ResourceVersion)
	restart := map[string]any{"revision": pc.Status.RolloutRestart.Revision, "restartedAt": at.UTC().Format(time.RFC3339)}
	if len(missing) > 0 {
		list := make([]any, 0, len(missing))
		for _, m := range missing {
			list = append(list, m)
		}
		restart["missing"] = list
	}
	if err := unstructured.SetNestedField(obj.Object, restart, "status", "rolloutRestart"); err != nil {
		return err
	}
	return r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(restartsFieldManager), client.ForceOwnership)
}

// missingTargets is the end of the Ready message while restart targets of the current revision
// were not found.
func missingTargets(pc *accessv1alpha1.Passcode) string {
	st := pc.Status.RolloutRestart
	if st == nil || st.Revision != pc.Status.Revision || len(st.Missing) == 0 {
		return ""
	}
	return "; restart targets not found: " + strings.Join(st.Missing, ", ")
}

// restartRecordedMissing: an update that records missing restart targets, which the Passcode
// reconciler's Ready message names (missingTargets).
func restartRecordedMissing(e event.UpdateEvent) bool {
	o, okO := e.ObjectOld.(*accessv1alpha1.Passcode)
	n, okN := e.ObjectNew.(*accessv1alpha1.Passcode)
	return okO && okN && n.Status.RolloutRestart != nil && len(n.Status.RolloutRestart.Missing) > 0 &&
		(o.Status.RolloutRestart == nil || o.Status.RolloutRestart.RestartedAt == nil)
}

func (r *PasscodeRestartReconciler) event(pc *accessv1alpha1.Passcode, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pc, nil, eventType, reason, reason, format, args...)
	}
}

// SetupWithManager registers the reconciler: Passcodes with a restart due.
func (r *PasscodeRestartReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Passcode{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			pc, ok := o.(*accessv1alpha1.Passcode)
			return ok && restartDue(pc)
		}))).
		WithOptions(controller.Options{RateLimiter: failureRateLimiter()}).
		Named("passcode-restarts").
		Complete(countFailures("passcode-restarts", r))
}
