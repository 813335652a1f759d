package controllers

import (
	"context"
	"errors"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	clientretry "k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/notify"
)

// NotificationReconciler delivers lifecycle notifications (docs/notifications.md). It runs beside
// the Passcode and DashboardUser reconcilers, never inside them: it reads the state they wrote
// (so a notification always follows the write of the change it tells of), sends, and then records
// the delivery in status. A failed send is retried with controller-runtime's per-object backoff (on
// the one retry curve, failureRateLimiter) on this controller's own workers, so a slow or failing
// receiver never holds up passcode work.
//
// What is due is derived from status alone, never from memory: a new process (a restart, a new
// leader) finds exactly what the last one had not recorded as delivered, and derives the same
// idempotency keys (notify.EventKey) for it.
//
//   - Passcodes: the notifications of the current revision (issued or rotated, expiring, expired,
//     revoked) that are enabled and not in status.notifications.sent.
//   - DashboardUsers: the entries of status.pendingNotifications, which the DashboardUser
//     reconciler adds in the same status write as the role change or revocation they tell of.
type NotificationReconciler struct {
	client.Client
	// APIReader confirms, before each send, that the stored object still has the notification due:
	// a cache behind this controller's own last status write would otherwise send it twice.
	APIReader client.Reader
	// Clock is the only source of "now".
	Clock clock.PassiveClock
	// Notifier delivers the events.
	Notifier notify.EventNotifier
	// Events are the enabled types (--notify-events) that Notifier delivers.
	Events notify.EventSet
	// Workers is how many objects of each kind are notified at once; zero means 1.
	Workers int
}

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers/status,verbs=get;patch

// Reconcile delivers the due notifications of one Passcode and records them.
func (n *NotificationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pc := &accessv1alpha1.Passcode{}
	if err := n.Get(ctx, req.NamespacedName, pc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := n.Clock.Now()
	if due, next := duePasscodeNotices(now, pc, n.Events); len(due) == 0 || !pc.DeletionTimestamp.IsZero() {
		return after(now, next), nil
	}
	// Something is due: confirm it on the stored Passcode (one read per notification, rare).
	live := &accessv1alpha1.Passcode{}
	if err := n.APIReader.Get(ctx, req.NamespacedName, live); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	due, next := duePasscodeNotices(now, live, n.Events)
	if len(due) == 0 {
		return after(now, next), nil
	}
	user := &accessv1alpha1.DashboardUser{}
	if err := n.Get(ctx, types.NamespacedName{Namespace: live.Namespace, Name: live.Spec.UserRef.Name}, user); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		user = nil
	}
	before := live.DeepCopy()
	var sendErr error
	for _, notice := range due {
		if sendErr = n.send(ctx, passcodeEvent(notice, live, user)); sendErr != nil {
			break
		}
		markNotified(live, notice.typ)
	}
	if live.Status.Notifications != nil && !slices.Equal(sentOf(before), live.Status.Notifications.Sent) {
		// Only this controller writes status.notifications, one Passcode at a time: a merge patch
		// of that field needs no lock, and no other writer's conflict can make a delivered
		// notification look undelivered.
		if err := n.Status().Patch(ctx, live, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if sendErr != nil {
		return ctrl.Result{}, sendErr // retried with the controller's per-object backoff
	}
	return after(now, next), nil
}

func sentOf(pc *accessv1alpha1.Passcode) []string {
	if pc.Status.Notifications == nil || pc.Status.Notifications.Revision != pc.Status.Revision {
		return nil
	}
	return pc.Status.Notifications.Sent
}

// ReconcileUser delivers a user's pending notifications, oldest first, and removes the delivered
// ones from status.
func (n *NotificationReconciler) ReconcileUser(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := &accessv1alpha1.DashboardUser{}
	if err := n.Get(ctx, req.NamespacedName, u); err != nil || len(u.Status.PendingNotifications) == 0 {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	live := &accessv1alpha1.DashboardUser{}
	if err := n.APIReader.Get(ctx, req.NamespacedName, live); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	done := map[string]bool{}
	var sendErr error
	for _, p := range live.Status.PendingNotifications {
		if n.Events.Has(notify.EventType(p.Type)) { // else disabled since it was queued: dropped unsent
			if sendErr = n.send(ctx, userNotification(p, live)); sendErr != nil {
				break
			}
		}
		done[userEventKey(p, live.UID)] = true
	}
	if len(done) > 0 {
		if err := n.removePending(ctx, live, done); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, sendErr
}

// removePending removes the delivered entries from the user's outbox. The list is written whole,
// so the patch is conditional on the resourceVersion (an entry the DashboardUser reconciler added
// meanwhile is never dropped); on a conflict it is computed again on a fresh read, so a delivered
// entry is never left behind to be sent again either.
func (n *NotificationReconciler) removePending(ctx context.Context, u *accessv1alpha1.DashboardUser, done map[string]bool) error {
	first := true
	return clientretry.RetryOnConflict(clientretry.DefaultRetry, func() error {
		if !first {
			if err := n.APIReader.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
				return err
			}
		}
		first = false
		before := u.DeepCopy()
		u.Status.PendingNotifications = slices.DeleteFunc(u.Status.PendingNotifications, func(p accessv1alpha1.PendingNotification) bool {
			return done[userEventKey(p, u.UID)]
		})
		if len(u.Status.PendingNotifications) == len(before.Status.PendingNotifications) {
			return nil
		}
		if len(u.Status.PendingNotifications) == 0 {
			u.Status.PendingNotifications = nil
		}
		return n.Status().Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}

// notifyTimeout bounds one delivery.
const notifyTimeout = 30 * time.Second

// send delivers one event. An SMTP notifier with no address to write to has nothing to do: that
// counts as delivered.
func (n *NotificationReconciler) send(ctx context.Context, ev notify.Event) error {
	logger := log.FromContext(ctx).WithValues("type", ev.Type, "idempotencyKey", ev.IdempotencyKey)
	sendCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	err := n.Notifier.Notify(sendCtx, ev)
	switch {
	case errors.Is(err, notify.ErrNoRecipient):
		logger.Info("Notification not emailed: the user has no address (deleted)")
		metrics.NotificationDeliveries.WithLabelValues(ev.Account, string(ev.Type), "skipped").Inc()
		return nil
	case err != nil:
		metrics.NotificationDeliveries.WithLabelValues(ev.Account, string(ev.Type), "failed").Inc()
		return err
	}
	logger.V(1).Info("Delivered notification")
	metrics.NotificationDeliveries.WithLabelValues(ev.Account, string(ev.Type), "sent").Inc()
	return nil
}

// after is the result that comes back at t (zero: not by itself).
func after(now, t time.Time) ctrl.Result {
	if t.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(t.Sub(now), time.Millisecond)}
}

// passcodeTypes and userTypes split the event types by the kind they are about.
func (n *NotificationReconciler) passcodeTypes() notify.EventSet {
	return n.Events.Filter(func(t notify.EventType) bool {
		return t != notify.EventUserRoleChanged && t != notify.EventUserAccessRevoked
	})
}

func (n *NotificationReconciler) userTypes() notify.EventSet {
	return n.Events.Filter(func(t notify.EventType) bool {
		return t == notify.EventUserRoleChanged || t == notify.EventUserAccessRevoked
	})
}

// SetupWithManager registers one controller per kind, each only when a type about that kind is
// enabled. The Passcode one sees every change, status included (a notification follows a status
// write); the DashboardUser one only users with pending notifications.
func (n *NotificationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := max(n.Workers, 1)
	if n.passcodeTypes() != 0 {
		if err := ctrl.NewControllerManagedBy(mgr).
			For(&accessv1alpha1.Passcode{}).
			WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: failureRateLimiter()}).
			Named("passcode-notifications").
			Complete(countFailures("passcode-notifications", n)); err != nil {
			return err
		}
	}
	if n.userTypes() == 0 {
		return nil
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardUser{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			u, ok := o.(*accessv1alpha1.DashboardUser)
			return ok && len(u.Status.PendingNotifications) > 0
		}))).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: failureRateLimiter()}).
		Named("dashboarduser-notifications").
		Complete(countFailures("dashboarduser-notifications", reconcile.Func(n.ReconcileUser)))
}
