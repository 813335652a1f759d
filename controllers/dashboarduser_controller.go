package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// DashboardUserReconciler reconciles DashboardUser objects.
type DashboardUserReconciler struct {
	client.Client
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers/status,verbs=get;patch

// Reconcile moves one DashboardUser towards its spec.
func (r *DashboardUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	u := &accessv1alpha1.DashboardUser{}
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log.FromContext(ctx).V(1).Info("Reconciling DashboardUser", "generation", u.Generation)

	before := u.DeepCopy()
	defer func() {
		if err := patchStatus(ctx, r.Client, before, u, userStatus); err != nil && !apierrors.IsNotFound(err) {
			retErr = err
		}
	}()

	now := r.Clock.Now()
	if u.Status.Phase == "" {
		u.Status.Phase = accessv1alpha1.UserPending
	}
	if u.Status.PasscodeStatus == "" {
		u.Status.PasscodeStatus = accessv1alpha1.PasscodeSummaryNone
	}
	// Invites are not implemented in this version: say so instead of claiming readiness.
	setCondition(&u.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionUnknown,
		accessv1alpha1.ReasonProgressing, "Sending invites is not implemented in this operator version", u.Generation, now)
	setCondition(&u.Status.Conditions, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue,
		accessv1alpha1.ReasonProgressing, "Waiting for the invite to be sent", u.Generation, now)
	u.Status.ObservedGeneration = u.Generation
	return ctrl.Result{}, nil
}

func userStatus(u *accessv1alpha1.DashboardUser) any { return u.Status }

// SetupWithManager registers the reconciler with mgr.
func (r *DashboardUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardUser{}).
		Named("dashboarduser").
		Complete(r)
}
