package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// legacyRoleFinalizer was on every DashboardRole an earlier release had seen, only so that a Warning
// Event could be emitted on a role deleted in use. It made uninstalls wait for a manager already
// gone (and `make undeploy` race one putting it back); roles now report their users in status
// instead, and the controller takes the finalizer off the roles that still carry it.
const legacyRoleFinalizer = "access.dashboardops.io/role-in-use"

// DashboardRoleReconciler keeps a DashboardRole's status: how many DashboardUsers of its namespace
// name it (status.users, and Ready's message "used by N users": who a deletion would hurt), and
// Ready. Deleting a role in use is never held back; the users that named it report RoleNotFound
// themselves (the DashboardUser reconciler watches roles).
type DashboardRoleReconciler struct {
	client.Client
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardroles,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardroles/status,verbs=get;patch

// Reconcile observes a role's users from the cache, takes an earlier release's finalizer off, and
// writes status when it changed.
func (r *DashboardRoleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	role := &accessv1alpha1.DashboardRole{}
	if err := r.Get(ctx, req.NamespacedName, role); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	users, err := r.usersOf(ctx, role.Namespace, role.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	n := countUsers(users)
	if !role.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.releaseDeleted(ctx, role, n)
	}
	if err := r.dropLegacyFinalizer(ctx, role); err != nil {
		return ctrl.Result{}, ignoreGone(err)
	}
	before := role.DeepCopy()
	setRoleStatus(role, r.Clock.Now(), n)
	_, err = patchStatus(ctx, r.Client, before, role, roleStatus, false)
	return ctrl.Result{}, ignoreGone(err)
}

// releaseDeleted lets go of a role deleted while an earlier release's finalizer held it, warning
// (as that release did) when users still name it. The Event comes first, so a crash in between
// repeats it rather than losing it.
func (r *DashboardRoleReconciler) releaseDeleted(ctx context.Context, role *accessv1alpha1.DashboardRole, users int32) error {
	if !controllerutil.ContainsFinalizer(role, legacyRoleFinalizer) {
		return nil // held by someone else's finalizer: nothing of ours to do
	}
	if msg := deletedInUseMessage(users); msg != "" && r.Recorder != nil {
		log.FromContext(ctx).Info("DashboardRole deleted while in use", "users", users)
		r.Recorder.Eventf(role, nil, corev1.EventTypeWarning, accessv1alpha1.ReasonDeletedInUse, accessv1alpha1.ReasonDeletedInUse, "%s", msg)
	}
	return ignoreGone(r.dropLegacyFinalizer(ctx, role))
}

// dropLegacyFinalizer takes legacyRoleFinalizer off. The patch carries the resourceVersion it was
// computed from, so it never drops a finalizer someone else added meanwhile (it conflicts and is
// retried).
func (r *DashboardRoleReconciler) dropLegacyFinalizer(ctx context.Context, role *accessv1alpha1.DashboardRole) error {
	if !controllerutil.ContainsFinalizer(role, legacyRoleFinalizer) {
		return nil
	}
	changed := role.DeepCopy()
	controllerutil.RemoveFinalizer(changed, legacyRoleFinalizer)
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(role, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	role.Finalizers, role.ResourceVersion = changed.Finalizers, changed.ResourceVersion
	return nil
}

// usersOf lists, from the cache and read-only, the DashboardUsers of namespace ns that name role.
func (r *DashboardRoleReconciler) usersOf(ctx context.Context, ns, role string) ([]accessv1alpha1.DashboardUser, error) {
	list := &accessv1alpha1.DashboardUserList{}
	if err := r.List(ctx, list, client.InNamespace(ns), client.MatchingFields{RoleIndex: role}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ignoreGone: a role deleted under a write needs nothing more (its deletion event ends it).
func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func roleStatus(role *accessv1alpha1.DashboardRole) any { return role.Status }

// SetupWithManager registers the reconciler: roles, and the users that name them.
func (r *DashboardRoleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardRole{}, builder.WithPredicates(
			// Our own status writes need no reconcile; a spec edit, a deletion or a finalizer
			// change do.
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.Funcs{UpdateFunc: deletionOrFinalizersChanged}))).
		Watches(&accessv1alpha1.DashboardUser{}, rolesOfUser()).
		WithOptions(controller.Options{RateLimiter: failureRateLimiter()}).
		Named("dashboardrole").
		Complete(countFailures("dashboardrole", r))
}

func deletionOrFinalizersChanged(e event.UpdateEvent) bool {
	return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() ||
		len(e.ObjectOld.GetFinalizers()) != len(e.ObjectNew.GetFinalizers())
}

// rolesOfUser maps a DashboardUser to the DashboardRole it names. A role edit enqueues the old role
// too, so its count drops; other updates of a user (status, last login stamps) change no count and
// are ignored.
func rolesOfUser() handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
		u, ok := o.(*accessv1alpha1.DashboardUser)
		if !ok {
			return
		}
		if role := customRole(u); role != "" {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Namespace: u.Namespace, Name: role}})
		}
	}
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q queue) { enqueue(q, e.Object) },
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q queue) {
			oldU, okOld := e.ObjectOld.(*accessv1alpha1.DashboardUser)
			newU, okNew := e.ObjectNew.(*accessv1alpha1.DashboardUser)
			if !okOld || !okNew || (oldU.Spec.Role == newU.Spec.Role && oldU.DeletionTimestamp.IsZero() == newU.DeletionTimestamp.IsZero()) {
				return
			}
			enqueue(q, oldU)
			enqueue(q, newU)
		},
		DeleteFunc:  func(_ context.Context, e event.DeleteEvent, q queue) { enqueue(q, e.Object) },
		GenericFunc: func(_ context.Context, e event.GenericEvent, q queue) { enqueue(q, e.Object) },
	}
}
