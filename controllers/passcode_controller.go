package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// PasscodeReconciler issues, expires, rotates, resets, revokes and repairs passcodes.
type PasscodeReconciler struct {
	// Client reads from the informer cache and writes to the API server.
	client.Client
	// APIReader reads straight from the API server: the only source trusted before generating a
	// new passcode because something looks missing or wrong in the cache.
	APIReader client.Reader
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events. Event text never holds a passcode.
	Recorder events.EventRecorder
	// Workers is how many Passcodes are reconciled at once (one key is never reconciled twice at
	// once); zero means 1.
	Workers int

	// written remembers, per Passcode, the status this process last wrote (see statusMark); a
	// Passcode's mark goes with it (forget), so the map holds no more than the Passcodes there are.
	written sync.Map
}

// statusMark is what a status write of this process stored: while the cache shows the same
// revision and phase, the cache is at least as new as that write, and every Secret write of this
// process is recorded in it (a failed status write forgets the mark). Only this process (the
// leader) writes them, so ending a passcode from such a cached copy needs no live read: the
// "expectations" of Kubernetes controllers. Without a mark (a new process, a new leader) the stored
// Passcode and Secret are read before a passcode is ended, and always before one is issued.
type statusMark struct {
	uid      types.UID // the object the mark is of: a Passcode created again under the name has none
	revision int64
	phase    accessv1alpha1.PasscodePhase
}

// cacheConfirmed reports whether pc's cached status is the one this process last wrote.
func (r *PasscodeReconciler) cacheConfirmed(pc *accessv1alpha1.Passcode) bool {
	m, ok := r.written.Load(client.ObjectKeyFromObject(pc))
	return ok && m.(statusMark) == statusMark{uid: pc.UID, revision: pc.Status.Revision, phase: pc.Status.Phase}
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/finalizers,verbs=update
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Passcode to the state its spec, its user and the clock call for. It reads
// top to bottom: observe (once), decide (pure), act, one status write.
func (r *PasscodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(req.NamespacedName) // its deletion is the last event it gets
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the Secret goes with it (owner reference), its copies by PasscodeCopiesReconciler
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("user", pc.Spec.UserRef.Name))
	now := r.Clock.Now()

	o := r.observe(ctx, pc, now)
	p := decide(now, o)
	pc = o.pc // the stored Passcode when the cache was behind
	before := pc.DeepCopy()
	res, s := r.act(ctx, pc, o, p, now)
	if s == nil {
		return res, nil // nothing to record
	}
	// Only act's owner patch moves pc's resourceVersion, and it succeeded on the one read: a status
	// write on the one it returned conflicts with nothing but a write since.
	before.ResourceVersion = pc.ResourceVersion
	summarize(passcodeBackoff(pc), now, *s)
	if failed, ok := r.writeStatus(ctx, before, pc); !ok {
		return failed, nil
	}
	return res, nil
}

// act carries out plan p on pc: the owner reference first (it also proves pc current, see
// confirmedByOwnerPatch), then the Secret. What follows a new status has reconcilers of its own:
// the copies in other namespaces (PasscodeCopiesReconciler) and a new revision's rollout restarts,
// marked due in status (markRestartDue, PasscodeRestartReconciler).
// It returns the result and the summary to record (nil: nothing to record).
func (r *PasscodeReconciler) act(ctx context.Context, pc *accessv1alpha1.Passcode, o observed, p plan, now time.Time) (ctrl.Result, *summary) {
	if o.pastGate {
		if err := r.ensureOwner(ctx, pc, o.user); apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil // the cache is behind: the newer Passcode comes by watch
		} else if err != nil {
			return r.failedStep(ctx, pc, now, "adding the owner reference to the DashboardUser", err)
		}
	}
	switch {
	case p.wait > 0:
		return ctrl.Result{RequeueAfter: p.wait}, nil
	case p.stall != nil:
		return ctrl.Result{}, r.stalled(pc, *p.stall)
	case p.readErr != nil:
		return r.failedStep(ctx, pc, now, p.reading, p.readErr)
	}
	pc.Status = p.status
	if err := r.writeSecret(ctx, pc, o, now, p.d); err != nil {
		return r.actFailed(ctx, pc, now, err)
	}
	pc.Status.ObservedGeneration = pc.Generation
	s := passcodeSummary(pc, p.d)
	succeeded(passcodeBackoff(pc))
	if wait, ok := nextDeadline(now, pc); ok {
		return ctrl.Result{RequeueAfter: wait}, &s
	}
	return ctrl.Result{}, &s
}

// actFailed records why writing the Secret did not finish: what only a person can fix stalls, the
// rest retries.
func (r *PasscodeReconciler) actFailed(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, err error) (ctrl.Result, *summary) {
	var imp *importError
	switch {
	case errors.Is(err, passcodesecret.ErrNotOurs):
		return ctrl.Result{}, r.stalled(pc, failure{stalled: true, reason: accessv1alpha1.ReasonSecretConflict, message: secretConflictMessage(pc)})
	case errors.As(err, &imp):
		// The source Secret is not watched (it carries none of the operator's labels): look again.
		// The cause is for the operator's log only (importError).
		log.FromContext(ctx).Info("spec.import refused", "cause", imp.cause)
		return ctrl.Result{RequeueAfter: time.Minute}, r.stalled(pc, failure{stalled: true, reason: accessv1alpha1.ReasonImportFailed, message: imp.msg})
	}
	return r.failedStep(ctx, pc, now, "writing the Secret", err)
}

// failedStep records a failed step (see failed).
func (r *PasscodeReconciler) failedStep(ctx context.Context, pc *accessv1alpha1.Passcode, now time.Time, what string, err error) (ctrl.Result, *summary) {
	f, res := failed(ctx, passcodeBackoff(pc), now, what, err)
	return res, &summary{fail: &f}
}

// stalled records a problem only a person can fix: no retry until the Passcode changes.
func (r *PasscodeReconciler) stalled(pc *accessv1alpha1.Passcode, f failure) *summary {
	f = stall(passcodeBackoff(pc), f.reason, f.message)
	if pc.Status.Phase == "" {
		pc.Status.Phase = accessv1alpha1.PasscodePending
	}
	pc.Status.ObservedGeneration = pc.Generation
	return &summary{fail: &f}
}

// checkSpec parses the spec's durations and checks its Secret templates: what the CRD could not
// refuse at apply stalls the Passcode before any passcode is issued.
func checkSpec(pc *accessv1alpha1.Passcode) (timings, error) {
	t, err := specTimings(pc)
	if err != nil {
		return t, err
	}
	return t, passcodesecret.CheckTemplate(pc.Spec.SecretTemplate)
}

// writeStatus patches pc's status when it changed (patchStatus) and keeps the mark of what this
// process wrote. A failed write returns the result that retries it.
func (r *PasscodeReconciler) writeStatus(ctx context.Context, before, pc *accessv1alpha1.Passcode) (ctrl.Result, bool) {
	// The merge patch writes the conditions list whole: while PasscodeCopiesReconciler may write
	// its condition into it, the patch is made on the resourceVersion read, so it never drops or
	// reverts that condition (a conflict is retried on a fresh copy).
	wrote, err := patchStatus(ctx, r.Client, before, pc, passcodeStatus,
		pc.Status.Failures > before.Status.Failures || copiesActive(pc))
	if !wrote {
		return ctrl.Result{}, true // nothing to write; the mark, if any, still holds
	}
	if err != nil {
		r.written.Delete(client.ObjectKeyFromObject(pc))
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// A conflict: the copy was behind, nothing recorded from it. NotFound: deleted
			// meanwhile, or an API server still starting that does not serve the CRD yet. Either
			// way look again shortly (a deleted Passcode ends at the Get).
			return ctrl.Result{RequeueAfter: time.Second}, false
		}
		return statusWriteFailed(ctx, err, pc.Status.Failures), false
	}
	r.written.Store(client.ObjectKeyFromObject(pc), statusMark{uid: pc.UID, revision: pc.Status.Revision, phase: pc.Status.Phase})
	return ctrl.Result{}, true
}

func countIssue(namespace, reason string) {
	switch reason {
	case accessv1alpha1.ReasonRotated:
		metrics.PasscodeRotations.WithLabelValues(namespace).Inc()
	case accessv1alpha1.ReasonReset:
		metrics.PasscodeResets.WithLabelValues(namespace).Inc()
	case accessv1alpha1.ReasonRepaired:
		metrics.PasscodeRepairs.WithLabelValues(namespace).Inc()
	default:
		metrics.PasscodeIssues.WithLabelValues(namespace).Inc()
	}
}

func (r *PasscodeReconciler) event(pc *accessv1alpha1.Passcode, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pc, nil, eventType, reason, reason, format, args...)
	}
}

func passcodeStatus(pc *accessv1alpha1.Passcode) any { return pc.Status }

// SetupWithManager registers the reconciler: Passcodes (spec and annotation changes, missing
// restart targets recorded), their Secrets (owned) and their users (through the userRef index,
// which must be registered: internal/setup does it).
func (r *PasscodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Passcode{}, builder.WithPredicates(
			// Status writes (ours, and the access server's last-use stamps) need no reconcile, but
			// for restart targets found missing: Ready's message names them.
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
				predicate.Funcs{UpdateFunc: restartRecordedMissing}))).
		Owns(&corev1.Secret{}).
		Watches(&accessv1alpha1.DashboardUser{}, handler.EnqueueRequestsFromMapFunc(r.passcodesOfUser)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Named("passcode").
		Complete(r)
}

// passcodesOfUser maps a DashboardUser to its Passcodes.
func (r *PasscodeReconciler) passcodesOfUser(ctx context.Context, o client.Object) []reconcile.Request {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{UserRefIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the Passcodes of a DashboardUser", "user", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
