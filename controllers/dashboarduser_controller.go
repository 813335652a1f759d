package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
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
// reads top-down like the Passcode reconciler: get, one deferred status patch, observe, decide
// (decideUser), act, schedule.
func (r *DashboardUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	u, err := r.getAlive(ctx, req)
	if u == nil || err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	before := u.DeepCopy()
	defer func() {
		// A write that adds a failure or a notification is made only on the status it was computed
		// from: from a stale copy it would bring back notifications already delivered and removed.
		_, err := patchStatus(ctx, r.Client, before, u, userStatus, u.Status.Failures > before.Status.Failures ||
			len(u.Status.PendingNotifications) > len(before.Status.PendingNotifications))
		if err != nil && !apierrors.IsNotFound(err) {
			res, retErr = statusWriteFailed(ctx, err, u.Status.Failures), nil
		}
	}()

	ttl, err := duration.InviteTTL(inviteTTL(u))
	if err != nil {
		f := stall(userBackoff(u), accessv1alpha1.ReasonInvalidSpec, "spec.invite.ttl: "+err.Error())
		summarize(userBackoff(u), now, summary{fail: &f})
		u.Status.ObservedGeneration = u.Generation
		return ctrl.Result{}, nil
	}
	d := decideUser(now, u)
	// A persisted backoff holds across restarts and unrelated events; a spec change retries at once,
	// and a revocation never waits for it.
	if wait, ok := backingOff(userBackoff(u), now); ok &&
		(u.Spec.Access != accessv1alpha1.AccessRevoked || u.Status.Phase == accessv1alpha1.UserRevoked) {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	pcs, err := r.passcodesOf(ctx, u)
	if err != nil {
		return r.retry(ctx, u, now, "listing the user's Passcodes", err)
	}
	summary, flip := passcodestatus.Summarize(now, pcs)
	missingRole, err := r.missingRole(ctx, u)
	if err != nil {
		return r.retry(ctx, u, now, "reading the user's DashboardRole", err)
	}

	d.status.Conditions, d.status.PasscodeStatus = u.Status.Conditions, summary
	d.status.Failures, d.status.NextRetryAt = u.Status.Failures, u.Status.NextRetryAt
	u.Status = d.status
	u.Status.PendingNotifications = queueNotifications(u.Status.PendingNotifications, d.notices, r.NotifyEvents)
	for _, e := range d.events {
		r.event(u, e.eventType, e.reason, "%s", e.message)
	}
	requeueAt := d.requeueAt
	if d.step == userDeliver {
		var out delivery
		if out, requeueAt, err = r.deliver(ctx, u, now, ttl, pcs, &d); err != nil {
			if foreign := (*passcodesecret.ForeignInviteKeyError)(nil); errors.As(err, &foreign) {
				return r.foreignInviteKey(u, now, foreign), nil
			}
			return r.retry(ctx, u, now, "delivering the invite", err)
		}
		if out == deliveryStale || (out == deliveryWaiting && isZeroStatus(&before.Status)) {
			// Nothing to tell yet, or the cached copy is behind: no write (the watch or the
			// Batcher's queue brings the user back).
			u.Status = before.Status
			return ctrl.Result{RequeueAfter: max(requeueAt.Sub(now), time.Millisecond)}, nil
		}
	}

	setUserConditions(u, now, d.ready, d.reason, d.msg, missingRole)
	succeeded(userBackoff(u))
	u.Status.ObservedGeneration = u.Generation
	res = ctrl.Result{RequeueAfter: flip}
	if !requeueAt.IsZero() {
		res = mergeResults(res, ctrl.Result{RequeueAfter: max(requeueAt.Sub(now), time.Millisecond)})
	}
	return res, nil
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

// delivery is how far deliver got.
type delivery int

const (
	// deliveryDone: an attempt was made (sent or failed) and is recorded in status.
	deliveryDone delivery = iota
	// deliveryWaiting: the user waits for its Passcodes to be issued or for its batch window.
	deliveryWaiting
	// deliveryStale: the cached user is older than the stored one; nothing was sent.
	deliveryStale
)

// maxInviteHolds bounds how many times a user's first invite waits for its Passcodes (a Passcode's
// status change wakes it; else it looks again after inviteHoldWait), so a Passcode that keeps
// failing holds the invite back for 5 minutes at most.
const maxInviteHolds = 30

// inviteHoldWait is how long a held invite waits for a wake-up by its Passcode before looking again:
// long, so that thousands of users waiting behind a deep Passcode queue cost no busy loop.
const inviteHoldWait = 10 * time.Second

// deliver makes one delivery attempt of the invite, recorded in status (written when Reconcile
// returns), after the user's Passcodes are issued and a batch slot is taken. It returns when to
// look again, and an error only for a failed read (a failed delivery is an outcome, recorded with
// its own backoff).
func (r *DashboardUserReconciler) deliver(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time, ttl time.Duration,
	pcs []accessv1alpha1.Passcode, d *userDecision) (delivery, time.Time, error) {
	if wait, hold := r.holdFirstInvite(u, pcs); hold {
		d.ready, d.reason, d.msg = metav1.ConditionFalse, accessv1alpha1.ReasonProgressing, "Waiting for the user's Passcodes to be issued"
		return deliveryWaiting, now.Add(wait), nil
	}
	if !r.Batcher.Seeded() {
		recorded, err := r.attemptsInWindow(ctx, r.Batcher.WindowStart(now))
		if err != nil {
			return deliveryWaiting, time.Time{}, err
		}
		r.Batcher.Seed(now, recorded)
	}
	// The slot comes before any live read: a queued user costs no API request until its turn.
	ok, wait := r.Batcher.Reserve(now, u.Namespace, string(u.UID))
	metrics.InvitesQueued.Set(float64(r.Batcher.Queued(now)))
	if !ok {
		d.ready, d.reason = metav1.ConditionFalse, accessv1alpha1.ReasonQueued
		d.msg = fmt.Sprintf("Waiting for the next invite batch (at most %d per project every %s)", r.Batcher.Size, r.Batcher.Window)
		return deliveryWaiting, now.Add(wait), nil
	}
	live := &accessv1alpha1.DashboardUser{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(u), live); err != nil {
		r.Batcher.Release(string(u.UID))
		return deliveryWaiting, time.Time{}, err
	}
	if live.ResourceVersion != u.ResourceVersion {
		// The cache is behind (often our own last status write): the newer object comes by watch.
		r.Batcher.Release(string(u.UID))
		return deliveryStale, now.Add(time.Second), nil
	}
	r.keyMu.Lock() // one worker makes a project's key; the others then read it from the cache
	key, err := passcodesecret.InviteKey(ctx, r.Client, r.APIReader, u.Namespace)
	r.keyMu.Unlock()
	if err != nil {
		r.Batcher.Release(string(u.UID))
		return deliveryWaiting, time.Time{}, err
	}
	inv := u.Status.Invite
	linkHash := func(n int32) string { return invite.Hash(invite.Token(key, string(u.UID), n)) }
	if inv.TokenHash != "" && inv.TokenHash != linkHash(inv.Number) {
		inv.TokenHash = "" // made under another key (the key Secret was deleted): a new link
	}
	prepareAttempt(now, inv, linkHash)
	r.holds.Delete(client.ObjectKeyFromObject(u))
	return deliveryDone, r.send(ctx, u, now, ttl, invite.Token(key, string(u.UID), inv.Number), d), nil
}

// foreignInviteKey stalls the user's invite on an invite key Secret the operator did not create
// (someone else would know its links). The Secret is not watched, so it looks again every minute;
// the Warning Event is emitted once, when the user stalls on it.
func (r *DashboardUserReconciler) foreignInviteKey(u *accessv1alpha1.DashboardUser, now time.Time,
	err *passcodesecret.ForeignInviteKeyError) ctrl.Result {
	if c := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionStalled); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != accessv1alpha1.ReasonInviteKeyConflict {
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonInviteKeyConflict, "%s", err.Error())
	}
	f := stall(userBackoff(u), accessv1alpha1.ReasonInviteKeyConflict, err.Error())
	summarize(userBackoff(u), now, summary{fail: &f})
	u.Status.ObservedGeneration = u.Generation
	return ctrl.Result{RequeueAfter: time.Minute}
}

// holdFirstInvite reports whether (and how long) a user's first invite waits for its Passcodes, so
// that the one status write that records the invite also shows them: while one is not acted on yet
// (a Passcode's status change wakes the user), and for a second once when none is seen yet
// (Passcodes applied together with the user). It counts in memory, not by the clock, and gives up
// after maxInviteHolds.
func (r *DashboardUserReconciler) holdFirstInvite(u *accessv1alpha1.DashboardUser, pcs []accessv1alpha1.Passcode) (time.Duration, bool) {
	if u.Status.Invite.Number != 0 {
		return 0, false // not the first invite
	}
	key := client.ObjectKeyFromObject(u)
	n := 0
	if held, ok := r.holds.Load(key); ok && held.(inviteHold).uid == u.UID {
		n = held.(inviteHold).n
	}
	switch {
	case n < maxInviteHolds && settling(pcs):
		r.holds.Store(key, inviteHold{u.UID, n + 1})
		return inviteHoldWait, true
	case n == 0 && len(pcs) == 0:
		r.holds.Store(key, inviteHold{u.UID, n + 1})
		return time.Second, true
	}
	r.holds.Store(key, inviteHold{u.UID, maxInviteHolds}) // done waiting, also while it queues for a batch
	return 0, false
}

// inviteHold is how often the first invite of the user with uid has waited for its Passcodes.
type inviteHold struct {
	uid types.UID // a user created again under the name starts from 0
	n   int
}

// settling reports whether a Passcode of the user has not been acted on yet.
func settling(pcs []accessv1alpha1.Passcode) bool {
	for i := range pcs {
		if pcs[i].DeletionTimestamp.IsZero() && pcs[i].Status.ObservedGeneration < pcs[i].Generation {
			return true
		}
	}
	return false
}

// attemptsInWindow lists the users (any project) whose recorded delivery attempt falls in the batch
// window starting at start. It seeds the Batcher once per process.
func (r *DashboardUserReconciler) attemptsInWindow(ctx context.Context, start time.Time) ([]invite.Recorded, error) {
	list := &accessv1alpha1.DashboardUserList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var recorded []invite.Recorded
	for i := range list.Items {
		inv := list.Items[i].Status.Invite
		if inv != nil && inv.LastAttemptAt != nil && !inv.LastAttemptAt.Time.Before(start) {
			recorded = append(recorded, invite.Recorded{Namespace: list.Items[i].Namespace, User: string(list.Items[i].UID)})
		}
	}
	return recorded, nil
}

// send delivers the link of the attempt prepared in status and records the outcome there. It
// returns when to look again.
func (r *DashboardUserReconciler) send(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time, ttl time.Duration,
	token string, d *userDecision) time.Time {
	inv := u.Status.Invite
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	err := r.Notifier.Send(sendCtx, notify.Invite{
		Project:        u.Namespace,
		Email:          u.Spec.Email,
		DisplayName:    u.Spec.DisplayName,
		Role:           string(u.Spec.Role),
		AcceptURL:      strings.TrimSuffix(r.PublicURL, "/") + "/invitations/" + token,
		ExpiresAt:      now.Add(ttl).Truncate(time.Second),
		IdempotencyKey: invite.IdempotencyKey(string(u.UID), inv.Number),
	})
	cancel()
	if err != nil {
		// Notifiers keep the link out of their errors; strip it anyway before it reaches status.
		msg := strings.ReplaceAll(err.Error(), token, "<token>")
		metrics.InviteDeliveries.WithLabelValues(u.Namespace, "failed").Inc()
		wait := deliveryFailed(now, inv, msg)
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonInviteFailed, "Delivering the invite failed (attempt %d): %s", inv.Attempts, msg)
		d.reason = accessv1alpha1.ReasonInviteFailed
		d.msg = fmt.Sprintf("Delivering the invite failed (attempt %d, retry in %s): %s", inv.Attempts, wait, msg)
		return now.Add(wait)
	}
	metrics.InviteDeliveries.WithLabelValues(u.Namespace, "sent").Inc()
	delivered(now, &u.Status, ttl)
	if inv.Number > 1 {
		// A first invite is told by status alone (Ready: Invited, invite.sentAt); a new link after a
		// resend or a renewed grant replaces one, so it is recorded as an Event too.
		r.event(u, corev1.EventTypeNormal, accessv1alpha1.ReasonInvited, "Invite %d sent to %s as %s", inv.Number, u.Spec.Email, u.Spec.Role)
	}
	d.ready, d.reason, d.msg = metav1.ConditionTrue, accessv1alpha1.ReasonInvited, invitedMessage(u.Spec.Email, inv.ExpiresAt.Time)
	return inv.ExpiresAt.Time
}

// retry records a failed step (see failed).
func (r *DashboardUserReconciler) retry(ctx context.Context, u *accessv1alpha1.DashboardUser, now time.Time, what string, err error) (
	ctrl.Result, error) {
	f, res := failed(ctx, userBackoff(u), now, what, err)
	summarize(userBackoff(u), now, summary{fail: &f})
	return res, nil
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
	name := customRole(u)
	if name == "" {
		return "", nil
	}
	err := r.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: name}, &accessv1alpha1.DashboardRole{})
	switch {
	case apierrors.IsNotFound(err):
		return name, nil
	case err != nil:
		return "", err
	}
	return "", nil
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
