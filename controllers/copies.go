package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// CopiesFinalizer is on a Passcode while copies of its Secret may exist in other namespaces: owner
// references cannot cross namespaces, so the controller deletes the copies before the Passcode goes.
const CopiesFinalizer = "access.dashboardops.io/secret-copies"

// copiesFieldManager writes the SecretCopies condition by server-side apply: the condition is that
// reconciler's alone, and no other status writer overwrites it.
const copiesFieldManager = "access-operator-copies"

// PasscodeCopiesReconciler keeps the copies of a Passcode's Secret (spec.secretCopies) in other
// namespaces: each holds what the primary Secret holds for the status the Passcode reconciler
// recorded, and goes when no longer asked for, no longer consented to, or with the Passcode (the
// copies finalizer). It owns the SecretCopies condition and the finalizer; a failure is returned,
// retried on the one retry curve and counted.
type PasscodeCopiesReconciler struct {
	client.Client
	// APIReader reads the primary Secret when the cached one is behind, and a copy's name the cache
	// does not hold.
	APIReader client.Reader
	// Clock is the only source of "now".
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
	// WatchNamespaces is --watch-namespaces (nil: every namespace); copies go nowhere else.
	WatchNamespaces []string
	// Workers is how many Passcodes are reconciled at once; zero means 1.
	Workers int
}

// copiesActive: pc asks for copies, or may have some (its finalizer, its condition).
func copiesActive(pc *accessv1alpha1.Passcode) bool {
	return len(pc.Spec.SecretCopies) > 0 || controllerutil.ContainsFinalizer(pc, CopiesFinalizer) ||
		apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies) != nil
}

// Reconcile observes the Passcode, its user and its copies, writes what the copies must hold, and
// records the SecretCopies condition in one status write.
func (r *PasscodeCopiesReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil || !copiesActive(pc) {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pc.DeletionTimestamp.IsZero() {
		return r.finalizeCopies(ctx, pc)
	}
	user := &accessv1alpha1.DashboardUser{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}, user); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		user = nil
	}
	cond, syncErr := r.sync(ctx, pc, user, r.Clock.Now())
	if err := r.recordCondition(ctx, pc, cond); err != nil {
		return ctrl.Result{}, ignoreGone(errors.Join(syncErr, err))
	}
	return ctrl.Result{}, syncErr
}

// recordCondition writes the SecretCopies condition when it changed: set by server-side apply
// under copiesFieldManager, removed (cond nil) by a patch of the list on the resourceVersion read,
// so that no condition written meanwhile is dropped.
func (r *PasscodeCopiesReconciler) recordCondition(ctx context.Context, pc *accessv1alpha1.Passcode, cond *metav1.Condition) error {
	old := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
	switch {
	case cond == nil && old == nil:
		return nil
	case cond == nil:
		before := pc.DeepCopy()
		apimeta.RemoveStatusCondition(&pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
		return r.Status().Patch(ctx, pc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	case old != nil && old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message &&
		old.ObservedGeneration == cond.ObservedGeneration:
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("Passcode"))
	obj.SetNamespace(pc.Namespace)
	obj.SetName(pc.Name)
	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cond)
	if err != nil {
		return err
	}
	if err := unstructured.SetNestedSlice(obj.Object, []any{c}, "status", "conditions"); err != nil {
		return err
	}
	return r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(copiesFieldManager), client.ForceOwnership)
}

func (r *PasscodeCopiesReconciler) event(pc *accessv1alpha1.Passcode, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pc, nil, eventType, reason, reason, format, args...)
	}
}

// SetupWithManager registers the reconciler: Passcodes that have or may have copies (their status
// included: the copies follow the revision and phase it records), the copies themselves (by their
// annotation, and for the Passcodes refused their names), the holders of the copies a Passcode asks
// for, and the namespaces they copy to (metadata only, through the secretCopies index). The
// SecretCopiesIndex must be registered (internal/setup does it).
func (r *PasscodeCopiesReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Passcode{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return copiesActive(e.Object.(*accessv1alpha1.Passcode)) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return copiesActive(e.ObjectOld.(*accessv1alpha1.Passcode)) || copiesActive(e.ObjectNew.(*accessv1alpha1.Passcode))
			},
			DeleteFunc:  func(event.DeleteEvent) bool { return false }, // gone: its finalizer saw to the copies
			GenericFunc: func(event.GenericEvent) bool { return true },
		})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfCopy)).
		Watches(&accessv1alpha1.Passcode{}, handler.EnqueueRequestsFromMapFunc(r.ownersOfCopiesAskedFor),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfNamespace),
			builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1), RateLimiter: failureRateLimiter()}).
		Named("passcode-copies").
		Complete(countFailures("passcode-copies", r))
}

// sync makes every copy of spec.secretCopies hold what the primary Secret holds, deletes the copies
// no longer asked for or no longer consented to, and returns the SecretCopies condition to record
// (nil: none). A failing copy never stops the others: the errors are joined and retried together.
func (r *PasscodeCopiesReconciler) sync(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser,
	now time.Time) (*metav1.Condition, error) {
	existing, err := r.cachedCopies(ctx, pc)
	if err != nil {
		return nil, err
	}
	targets := passcodesecret.CopyTargets(pc)
	if len(targets) == 0 && len(existing) == 0 {
		return nil, r.setCopiesFinalizer(ctx, pc, false)
	}
	// Before the first copy is written, so that no copy can outlive the Passcode.
	if err := r.setCopiesFinalizer(ctx, pc, true); err != nil {
		return nil, err
	}
	contents, issued, err := r.copyContents(ctx, pc, user)
	if err != nil {
		return nil, err
	}
	var problems []copyProblem
	var contested []string
	var errs []error
	keep := map[passcodesecret.CopyTarget]bool{}
	for _, t := range targets {
		refusal, err := r.refusal(ctx, pc, t.Namespace)
		if err != nil {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed, fmt.Sprintf("reading namespace %q failed (%s)",
				t.Namespace, apierrors.ReasonForError(err))})
			errs = append(errs, err)
			keep[t] = true // unknown: a failed read never deletes a copy
			continue
		}
		if refusal != "" {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyRefused, refusal})
			continue
		}
		keep[t] = true
		if !issued {
			continue
		}
		switch err := r.writeCopy(ctx, pc, t, contents); {
		case errors.Is(err, passcodesecret.ErrNotOurs):
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyConflict, conflictMessage(t, r.copyOwner(ctx, t))})
		case err != nil:
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed,
				fmt.Sprintf("writing Secret %s failed (%s)", t, apierrors.ReasonForError(err))})
			errs = append(errs, err)
		default:
			if others := r.contenders(ctx, pc, t); len(others) > 0 {
				contested = append(contested, contestedMessage(t, others))
			}
		}
	}
	for i := range existing {
		s := &existing[i]
		if keep[passcodesecret.CopyTarget{Namespace: s.Namespace, Name: s.Name}] {
			continue
		}
		if err := passcodesecret.DeleteCopy(ctx, r.Client, s); err != nil {
			problems = append(problems, copyProblem{accessv1alpha1.ReasonCopyFailed,
				fmt.Sprintf("deleting Secret %s/%s failed (%s)", s.Namespace, s.Name, apierrors.ReasonForError(err))})
			errs = append(errs, err)
		}
	}
	return r.copiesCondition(pc, now, issued, problems, len(keep), contested), errors.Join(errs...)
}

// copiesCondition is the SecretCopies condition for the outcome; a refusal or a contest that is
// new is also a Warning Event (an unchanged one is not repeated on every reconcile).
func (r *PasscodeCopiesReconciler) copiesCondition(pc *accessv1alpha1.Passcode, now time.Time, issued bool, problems []copyProblem,
	written int, contested []string) *metav1.Condition {
	status, reason, msg := copiesCondition(issued, problems, written, contested)
	old := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
	switch reason {
	case accessv1alpha1.ReasonCopyRefused, accessv1alpha1.ReasonCopyConflict, accessv1alpha1.ReasonCopiesContested:
		if old == nil || old.Message != msg {
			r.event(pc, corev1.EventTypeWarning, reason, "%s", msg)
		}
	}
	conds := slices.Clone(pc.Status.Conditions)
	setCondition(&conds, accessv1alpha1.ConditionSecretCopies, status, reason, msg, pc.Generation, now)
	return apimeta.FindStatusCondition(conds, accessv1alpha1.ConditionSecretCopies)
}

// copyContents is what every copy holds: what the primary holds for the status the cache shows.
// issued is false before the first passcode (no copy is written then). The passcode comes from the
// primary Secret where it matches status.hash (read live when the cached primary is behind), so
// that a copy never holds anything the primary does not.
func (r *PasscodeCopiesReconciler) copyContents(ctx context.Context, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) (
	passcodesecret.Contents, bool, error) {
	key := types.NamespacedName{Namespace: pc.Namespace, Name: passcodesecret.Name(pc)}
	primary := &corev1.Secret{}
	if err := r.Get(ctx, key, primary); err != nil {
		if !apierrors.IsNotFound(err) {
			return passcodesecret.Contents{}, true, err
		}
		primary = nil
	}
	switch pc.Status.Phase {
	case "", accessv1alpha1.PasscodePending:
		return passcodesecret.Contents{}, false, nil
	case accessv1alpha1.PasscodeActive:
		if passcodesecret.Current(pc, "", primary).Passcode == "" {
			primary = &corev1.Secret{}
			if err := r.APIReader.Get(ctx, key, primary); err != nil {
				return passcodesecret.Contents{}, true, err
			}
		}
		c := passcodesecret.Current(pc, boundEmail(pc, user), primary)
		if c.Passcode == "" {
			return c, true, errors.New("the primary Secret does not hold the current passcode yet")
		}
		return c, true, nil
	default: // Expired, Revoked: the copies are wiped like the primary
		return passcodesecret.Current(pc, boundEmail(pc, user), primary), true, nil
	}
}
