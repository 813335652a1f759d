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

// PasscodeReconciler reconciles Passcode objects.
type PasscodeReconciler struct {
	client.Client
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/status,verbs=get;patch

// Reconcile moves one Passcode towards its spec.
func (r *PasscodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	pc := &accessv1alpha1.Passcode{}
	if err := r.Get(ctx, req.NamespacedName, pc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log.FromContext(ctx).V(1).Info("Reconciling Passcode", "generation", pc.Generation)

	before := pc.DeepCopy()
	defer func() {
		if err := patchStatus(ctx, r.Client, before, pc, passcodeStatus); err != nil && !apierrors.IsNotFound(err) {
			retErr = err
		}
	}()

	now := r.Clock.Now()
	if pc.Status.Phase == "" {
		pc.Status.Phase = accessv1alpha1.PasscodePending
	}
	// Issuing passcodes is not implemented in this version: say so instead of claiming readiness.
	setCondition(&pc.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionUnknown,
		accessv1alpha1.ReasonProgressing, "Passcode issuing is not implemented in this operator version", pc.Generation, now)
	setCondition(&pc.Status.Conditions, accessv1alpha1.ConditionReconciling, metav1.ConditionTrue,
		accessv1alpha1.ReasonProgressing, "Waiting for the passcode to be issued", pc.Generation, now)
	pc.Status.ObservedGeneration = pc.Generation
	return ctrl.Result{}, nil
}

func passcodeStatus(pc *accessv1alpha1.Passcode) any { return pc.Status }

// SetupWithManager registers the reconciler with mgr.
func (r *PasscodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Passcode{}).
		Named("passcode").
		Complete(r)
}
