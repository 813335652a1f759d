package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
	"github.com/dashboardops/access-operator/internal/users"
)

// DashboardUserReconciler invites users, follows their invites to acceptance or expiry, records
// role and access changes, and summarises their Passcodes. Revoking access is enforced by the
// Passcode controller (it watches users) and the access server (it checks the user on every request).
//
// A delivery is one reconcile with one status write: wait for the user's Passcodes to be issued
// (so that write also carries the Passcode column), take a batch slot, confirm the cache is
// current with one live read, derive the link from the project's invite key, the user's UID and
// the next invite number, send it, and record the outcome. A crash or a failed write after the
// send makes the next reconcile send the same link with the same idempotency key, never a second
// link. A user waiting for its batch is not written to: it waits in the Batcher's queue.
type DashboardUserReconciler struct {
	client.Client
	// APIReader reads straight from the API server: a delivery is made only after a live read
	// confirms the cache is current, so a lagging cache never sends a stale invite.
	APIReader client.Reader
	// Clock is the only source of "now": tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder emits Events; never with a token.
	Recorder events.EventRecorder
	// Notifier delivers invites.
	Notifier notify.Notifier
	// NotifyEvents are the lifecycle notification types to queue (--notify-events, as far as the
	// notifier delivers them): user.role-changed and user.access-revoked go into
	// status.pendingNotifications with the change, and the NotificationReconciler delivers them.
	NotifyEvents notify.EventSet
	// Batcher paces invites: at most --invite-batch-size per namespace and --invite-global-batch-size
	// in all per window, the global share split evenly between the namespaces waiting.
	Batcher *invite.Batcher
	// PublicURL is the base of accept links.
	PublicURL string
	// Workers is how many users are reconciled at once; deliveries wait on SMTP or a webhook, so
	// several at once keep one slow invite from holding up the others. Zero means 1.
	Workers int

	// holds counts, per user, how often its first invite has waited for its Passcodes (see
	// inviteHold); a user's count goes when it is invited or deleted, so the map stays bounded.
	holds sync.Map
	// keyMu serializes reading (and on first use, making) the projects' invite keys.
	keyMu sync.Mutex
}

// sendTimeout bounds one delivery, so a hung SMTP server cannot hold a worker for long.
const sendTimeout = 30 * time.Second

// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=dashboardusers/status,verbs=get;patch
// +kubebuilder:rbac:groups=access.dashboardops.io,resources=passcodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves one DashboardUser through Pending, Invited, Active, InviteExpired and Revoked. It
// reads top to bottom like the Passcode reconciler: observe, decide (decideUser), act (deliver), one
// status write.
func (r *DashboardUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u, err := r.getAlive(ctx, req)
	if u == nil || err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()

	o := r.observe(ctx, u, now)
	d := decideUser(now, u, o)
	before := u.DeepCopy()
	res, s := r.act(ctx, u, o, d, now)
	if s == nil {
		return res, nil // nothing to record
	}
	summarize(userBackoff(u), now, *s)
	// A write that adds a failure or a notification is made only on the status it was computed
	// from: from a stale copy it would bring back notifications already delivered and removed.
	_, err = patchStatus(ctx, r.Client, before, u, userStatus, u.Status.Failures > before.Status.Failures ||
		len(u.Status.PendingNotifications) > len(before.Status.PendingNotifications))
	if err != nil && !apierrors.IsNotFound(err) {
		return statusWriteFailed(ctx, err, u.Status.Failures), nil
	}
	return res, nil
}

// observe reads what decideUser needs: the invite's TTL, whether a persisted backoff holds (a spec
// change retries at once, and a revocation never waits for it), the user's Passcodes and its role.
func (r *DashboardUserReconciler) observe(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time) userObserved {
	o := userObserved{enabled: r.NotifyEvents}
	if o.ttl, o.ttlErr = duration.InviteTTL(inviteTTL(u)); o.ttlErr != nil {
		return o
	}
	if wait, ok := backingOff(userBackoff(u), now); ok &&
		(u.Spec.Access != accessv1alpha1.AccessRevoked || u.Status.Phase == accessv1alpha1.UserRevoked) {
		o.backoff = wait
		return o
	}
	if o.pcs, o.readErr = r.passcodesOf(ctx, u); o.readErr != nil {
		o.reading = "listing the user's Passcodes"
		return o
	}
	o.passcodes, o.flip = passcodestatus.Summarize(now, o.pcs)
	if o.missingRole, o.readErr = r.missingRole(ctx, u); o.readErr != nil {
		o.reading = "reading the user's DashboardRole"
	}
	return o
}

// act carries out decision d: a delivery when one is due, then the decided status with the
// delivery's outcome, its Events, and the summary to record (nil: nothing to record).
func (r *DashboardUserReconciler) act(ctx context.Context, u *accessv1alpha1.DashboardUser, o userObserved, d userDecision,
	now time.Time) (ctrl.Result, *summary) {
	b := userBackoff(u)
	switch {
	case d.wait > 0:
		return ctrl.Result{RequeueAfter: d.wait}, nil
	case d.stall != nil:
		f := stall(b, d.stall.reason, d.stall.message)
		u.Status.ObservedGeneration = u.Generation
		return ctrl.Result{}, &summary{fail: &f}
	case d.readErr != nil:
		return r.failedStep(ctx, u, now, d.reading, d.readErr)
	}
	next := d.status
	out := outcome{ready: d.ready, reason: d.reason, msg: d.msg, requeueAt: d.requeueAt}
	if d.step == userDeliver {
		out = r.deliver(ctx, u, &next, now, o, out)
		if out.kind == deliveryStale || (out.kind == deliveryWaiting && out.err == nil && isZeroStatus(&u.Status)) {
			// Nothing to tell yet, or the cached copy is behind: no write (the watch or the
			// Batcher's queue brings the user back).
			return ctrl.Result{RequeueAfter: max(out.requeueAt.Sub(now), time.Millisecond)}, nil
		}
	}
	u.Status = next
	for _, e := range append(d.events, out.events...) {
		r.event(u, e.eventType, e.reason, "%s", e.message)
	}
	if foreign := (*passcodesecret.ForeignInviteKeyError)(nil); errors.As(out.err, &foreign) {
		return r.foreignInviteKey(u, foreign)
	} else if out.err != nil {
		return r.failedStep(ctx, u, now, "delivering the invite", out.err)
	}
	s := userSummary(u, out.ready, out.reason, out.msg, o.missingRole)
	succeeded(b)
	u.Status.ObservedGeneration = u.Generation
	res := ctrl.Result{RequeueAfter: o.flip}
	if !out.requeueAt.IsZero() {
		res = mergeResults(res, ctrl.Result{RequeueAfter: max(out.requeueAt.Sub(now), time.Millisecond)})
	}
	return res, &s
}

// failedStep records a failed step (see failed).
func (r *DashboardUserReconciler) failedStep(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time, what string,
	err error) (ctrl.Result, *summary) {
	f, res := failed(ctx, userBackoff(u), now, what, err)
	return res, &summary{fail: &f}
}

// getAlive reads the user from the cache: nil when it is gone or being deleted (its Passcodes go
// with it, by owner references), and then its invite hold is forgotten.
func (r *DashboardUserReconciler) getAlive(ctx context.Context, req ctrl.Request) (*accessv1alpha1.DashboardUser, error) {
	u := &accessv1alpha1.DashboardUser{}
	err := r.Get(ctx, req.NamespacedName, u)
	if apierrors.IsNotFound(err) || (err == nil && !u.DeletionTimestamp.IsZero()) {
		r.holds.Delete(req.NamespacedName) // its deletion is the last event it gets
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// passcodesOf lists the user's Passcodes from the cache, read-only.
func (r *DashboardUserReconciler) passcodesOf(ctx context.Context, u *accessv1alpha1.DashboardUser) ([]accessv1alpha1.Passcode, error) {
	list := &accessv1alpha1.PasscodeList{}
	if err := r.List(ctx, list, client.InNamespace(u.Namespace), client.MatchingFields{UserRefIndex: u.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// missingRole returns the DashboardRole the user names when the cache holds no such role, or "".
// A missing role changes only readiness: the invite still goes out and the user still counts for
// its batch. GitOps tools apply users and roles together in no fixed order (and a role may be
// recreated), so holding invites back would make the order of a commit matter and delay people for
// a transient gap; the access server gives the user no permissions meanwhile. The cache may lag
// behind a role just created: the role's creation wakes the user again (see usersOfRole).
func (r *DashboardUserReconciler) missingRole(ctx context.Context, u *accessv1alpha1.DashboardUser) (string, error) {
	err := users.RoleExists(ctx, func(ctx context.Context, key types.NamespacedName) error {
		return r.Get(ctx, key, &accessv1alpha1.DashboardRole{})
	}, u.Namespace, string(u.Spec.Role))
	if missing := (*users.MissingRoleError)(nil); errors.As(err, &missing) {
		return missing.Role, nil
	}
	return "", err
}

// isZeroStatus: the user's status was never written.
func isZeroStatus(st *accessv1alpha1.DashboardUserStatus) bool {
	return st.Phase == "" && st.ObservedGeneration == 0 && len(st.Conditions) == 0 && st.Invite == nil
}

func (r *DashboardUserReconciler) event(u *accessv1alpha1.DashboardUser, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(u, nil, eventType, reason, reason, format, args...)
	}
}

func inviteTTL(u *accessv1alpha1.DashboardUser) string {
	if u.Spec.Invite == nil {
		return ""
	}
	return u.Spec.Invite.TTL
}

// mergeResults keeps the lowest non-zero RequeueAfter.
func mergeResults(a, b ctrl.Result) ctrl.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

func userStatus(u *accessv1alpha1.DashboardUser) any { return u.Status }

// SetupWithManager registers the reconciler: users, and the Passcodes that name them.
func (r *DashboardUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DashboardUser{}).
		Watches(&accessv1alpha1.Passcode{}, handler.EnqueueRequestsFromMapFunc(userOfPasscode)).
		// A role appearing or going changes its users' readiness; its edits and status writes do not.
		Watches(&accessv1alpha1.DashboardRole{}, handler.EnqueueRequestsFromMapFunc(r.usersOfRole),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Named("dashboarduser").
		Complete(r)
}

func userOfPasscode(_ context.Context, o client.Object) []reconcile.Request {
	pc, ok := o.(*accessv1alpha1.Passcode)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: pc.Namespace, Name: pc.Spec.UserRef.Name}}}
}

// usersOfRole maps a DashboardRole to the users of its namespace that name it.
func (r *DashboardUserReconciler) usersOfRole(ctx context.Context, o client.Object) []reconcile.Request {
	list := &accessv1alpha1.DashboardUserList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{RoleIndex: o.GetName()},
		client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Listing the DashboardUsers of a DashboardRole", "role", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
