package controllers

import (
	"context"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
)

// Reasons of a DashboardPolicy's Ready condition and of the Events of its revocations.
const (
	ReasonPolicyObserved       = "Observed"
	ReasonRevokedForInactivity = "RevokedForInactivity"
	policyRevokedBy            = "dashboardpolicy/" + accessv1alpha1.DashboardPolicyName
)

// DashboardPolicyReconciler reports a project's users and passcodes against its DashboardPolicy
// (the rules the admission policy enforces at apply, for objects that predate them) and carries out
// the inactivity rules: it revokes users and passcodes unused for too long.
type DashboardPolicyReconciler struct {
	client.Client
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch;patch

// Reconcile observes the namespace's policy, users and passcodes from the cache, decides, revokes
// what is due, and writes status once.
func (r *DashboardPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &accessv1alpha1.DashboardPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() || p.Name != accessv1alpha1.DashboardPolicyName {
		return ctrl.Result{}, nil // the CRD refuses other names; nothing reads one
	}
	now := r.Clock.Now()
	before := p.DeepCopy()
	// The cache's own objects, not copies: this reconcile runs at every change of the project's
	// users and passcodes, and only reads them (a write patches a DeepCopy).
	users := &accessv1alpha1.DashboardUserList{}
	if err := r.List(ctx, users, client.InNamespace(p.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	passcodes := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, passcodes, client.InNamespace(p.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	p.Status.ObservedGeneration = p.Generation
	plan, err := planPolicy(p, users.Items, passcodes.Items, now)
	if err != nil { // only a policy stored by an older CRD: nothing is revoked by it
		setCondition(&p.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonInvalidSpec, err.Error(), p.Generation, now)
		p.Status.NextAction = nil
		_, werr := patchStatus(ctx, r.Client, before, p, policyStatus, false)
		return ctrl.Result{}, ignoreGone(werr)
	}
	for _, name := range plan.Regranted {
		if err := r.stampRegranted(ctx, findByName(users.Items, name), now); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording that %s was granted access again: %w", name, err)
		}
	}
	revokedUsers := map[string]bool{}
	for _, a := range plan.Due {
		var err error
		switch a.Kind {
		case kindDashboardUser:
			err = r.revokeUser(ctx, p, users.Items, a)
			revokedUsers[a.Name] = true
		case kindPasscode:
			err = r.revokePasscode(ctx, p, passcodes.Items, a, revokedUsers)
		}
		if err != nil {
			// A conflict means the object changed (a login, an edit): the next reconcile decides
			// again from the new state. Revocations done so far stand.
			return ctrl.Result{}, fmt.Errorf("revoking %s %s for inactivity: %w", a.Kind, a.Name, err)
		}
	}
	p.Status.Compliant, p.Status.NonCompliant, p.Status.NonCompliantObjects = plan.Compliant, plan.NonCompliant, plan.Listed
	p.Status.ActiveAdmins, p.Status.SeatsUsed = plan.ActiveAdmins, plan.SeatsUsed
	var result ctrl.Result
	p.Status.NextAction = nil
	if plan.Next != nil {
		p.Status.NextAction = &accessv1alpha1.PolicyAction{Kind: plan.Next.Kind, Name: plan.Next.Name, Action: PolicyActionRevoke,
			At: metav1.NewTime(plan.Next.At.UTC().Truncate(time.Second))}
		result.RequeueAfter = plan.Next.At.Sub(now)
	}
	setCondition(&p.Status.Conditions, accessv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonPolicyObserved, policyMessage(plan), p.Generation, now)
	if c := adminsCondition(p, plan.ActiveAdmins); c != nil {
		setCondition(&p.Status.Conditions, c.Type, c.Status, c.Reason, c.Message, p.Generation, now)
	} else {
		apimeta.RemoveStatusCondition(&p.Status.Conditions, ConditionAdminsMinimum)
	}
	if _, err := patchStatus(ctx, r.Client, before, p, policyStatus, false); err != nil {
		return ctrl.Result{}, ignoreGone(err)
	}
	return result, nil
}

// revokeUser sets the user's spec.access to Revoked, as an access review does: a merge patch
// carrying the user's resourceVersion (a login or an edit meanwhile makes it conflict, and the
// next reconcile decides again), naming the policy in the revoked-by annotation.
func (r *DashboardPolicyReconciler) revokeUser(ctx context.Context, p *accessv1alpha1.DashboardPolicy, users []accessv1alpha1.DashboardUser,
	a inactivityAction) error {
	u := findByName(users, a.Name)
	if u == nil {
		return nil
	}
	changed := u.DeepCopy()
	changed.Spec.Access = accessv1alpha1.AccessRevoked
	if changed.Annotations == nil {
		changed.Annotations = map[string]string{}
	}
	changed.Annotations[RevokedByAnnotation] = policyRevokedBy
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(u, client.MergeFromWithOptimisticLock{})); err != nil {
		return ignoreGone(err)
	}
	metrics.PolicyRevocations.WithLabelValues(p.Namespace, kindDashboardUser).Inc()
	log.FromContext(ctx).Info("Access revoked for inactivity", "user", u.Name, "since", a.SinceWhat, "at", a.Since.UTC())
	r.event(u, p, "Access revoked by DashboardPolicy default: %s is %s and the %s was at %s",
		a.Rule, a.Period, a.SinceWhat, a.Since.UTC().Format(time.RFC3339))
	return nil
}

// stampRegranted replaces the revoked-by annotation of a user granted access again by
// RegrantedAtAnnotation (now), so that its inactivity counts from now: otherwise a last login from
// before the revocation would revoke it again at once. Under the same lock as a revocation.
func (r *DashboardPolicyReconciler) stampRegranted(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time) error {
	changed := u.DeepCopy()
	delete(changed.Annotations, RevokedByAnnotation)
	changed.Annotations[RegrantedAtAnnotation] = now.UTC().Format(time.RFC3339)
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(u, client.MergeFromWithOptimisticLock{})); err != nil {
		return ignoreGone(err)
	}
	log.FromContext(ctx).Info("Access granted again after a revocation: inactivity counts from now", "user", u.Name)
	return nil
}

// revokePasscode sets the Passcode's spec.revoked (as `kubectl dashboard passcode revoke` does),
// under the same lock, naming the policy in the revoked-by annotation. A passcode whose user this
// reconcile just revoked is left to the user's revocation (it revokes them all).
func (r *DashboardPolicyReconciler) revokePasscode(ctx context.Context, p *accessv1alpha1.DashboardPolicy, passcodes []accessv1alpha1.Passcode,
	a inactivityAction, revokedUsers map[string]bool) error {
	pc := findPasscode(passcodes, a.Name)
	if pc == nil || revokedUsers[pc.Spec.UserRef.Name] {
		return nil
	}
	changed := pc.DeepCopy()
	changed.Spec.Revoked = true
	if changed.Annotations == nil {
		changed.Annotations = map[string]string{}
	}
	changed.Annotations[RevokedByAnnotation] = policyRevokedBy
	if err := r.Patch(ctx, changed, client.MergeFromWithOptions(pc, client.MergeFromWithOptimisticLock{})); err != nil {
		return ignoreGone(err)
	}
	metrics.PolicyRevocations.WithLabelValues(p.Namespace, kindPasscode).Inc()
	log.FromContext(ctx).Info("Passcode revoked for inactivity", "passcode", pc.Name, "since", a.SinceWhat, "at", a.Since.UTC())
	r.event(pc, p, "Passcode revoked by DashboardPolicy default: %s is %s and the %s was at %s",
		a.Rule, a.Period, a.SinceWhat, a.Since.UTC().Format(time.RFC3339))
	return nil
}

func findByName(users []accessv1alpha1.DashboardUser, name string) *accessv1alpha1.DashboardUser {
	for i := range users {
		if users[i].Name == name {
			return &users[i]
		}
	}
	return nil
}

func findPasscode(passcodes []accessv1alpha1.Passcode, name string) *accessv1alpha1.Passcode {
	for i := range passcodes {
		if passcodes[i].Name == name {
			return &passcodes[i]
		}
	}
	return nil
}

func policyStatus(p *accessv1alpha1.DashboardPolicy) any { return p.Status }

// event records a Warning Event on a revoked object, with the policy as related.
func (r *DashboardPolicyReconciler) event(regarding client.Object, p *accessv1alpha1.DashboardPolicy, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(regarding, p, corev1.EventTypeWarning, ReasonRevokedForInactivity, ReasonRevokedForInactivity, format, args...)
}

// toPolicy maps a user or passcode to its namespace's policy: every change of one (a login, a new
// passcode, a use) can change the counts and the next inactivity action.
func toPolicy(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: accessv1alpha1.DashboardPolicyName}}}
}

// SetupWithManager registers the reconciler. A policy wakes on its spec changes, an annotation (a
// person's nudge), its namespace's users and passcodes, and on time (RequeueAfter the next action).
func (r *DashboardPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardPolicy{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&accessv1alpha1.DashboardUser{}, handler.EnqueueRequestsFromMapFunc(toPolicy)).
		Watches(&accessv1alpha1.Passcode{}, handler.EnqueueRequestsFromMapFunc(toPolicy)).
		WithOptions(controller.Options{RateLimiter: failureRateLimiter()}).
		Named("dashboardpolicy").
		Complete(countFailures("dashboardpolicy", r))
}
