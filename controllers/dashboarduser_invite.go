package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

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

// outcome is what act and deliver make of a decision: Ready's state (the decision's, unless a
// delivery changed it), when to look again, the Events of a delivery, and a failed read (err).
type outcome struct {
	kind        delivery
	ready       metav1.ConditionStatus
	reason, msg string
	requeueAt   time.Time
	events      []userEvent
	err         error
}

// deliver makes one delivery attempt of the invite, recorded in st (the status act writes), after
// the user's Passcodes are issued and a batch slot is taken. A failed delivery is an outcome,
// recorded with its own backoff; out.err is a failed read only. The batch slot is given back
// unless an attempt was made.
func (r *DashboardUserReconciler) deliver(ctx context.Context, u *accessv1alpha1.DashboardUser, st *accessv1alpha1.DashboardUserStatus,
	now time.Time, o userObserved, out outcome) outcome {
	if wait, hold := r.holdFirstInvite(u, st.Invite, o.pcs); hold {
		return outcome{kind: deliveryWaiting, ready: metav1.ConditionFalse, reason: accessv1alpha1.ReasonProgressing,
			msg: "Waiting for the user's Passcodes to be issued", requeueAt: now.Add(wait)}
	}
	if !r.Batcher.Seeded() {
		recorded, err := r.attemptsInWindow(ctx, r.Batcher.WindowStart(now))
		if err != nil {
			return outcome{kind: deliveryWaiting, err: err}
		}
		r.Batcher.Seed(now, recorded)
	}
	// The slot comes before any live read: a queued user costs no API request until its turn.
	ok, wait := r.Batcher.Reserve(now, u.Namespace, string(u.UID))
	metrics.InvitesQueued.Set(float64(r.Batcher.Queued(now)))
	if !ok {
		return outcome{kind: deliveryWaiting, ready: metav1.ConditionFalse, reason: accessv1alpha1.ReasonQueued, requeueAt: now.Add(wait),
			msg: fmt.Sprintf("Waiting for the next invite batch (at most %d per project every %s)", r.Batcher.Size, r.Batcher.Window)}
	}
	attempted := false
	defer func() {
		if !attempted {
			r.Batcher.Release(string(u.UID))
		}
	}()
	live := &accessv1alpha1.DashboardUser{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(u), live); err != nil {
		return outcome{kind: deliveryWaiting, err: err}
	}
	if live.ResourceVersion != u.ResourceVersion {
		// The cache is behind (often our own last status write): the newer object comes by watch.
		return outcome{kind: deliveryStale, requeueAt: now.Add(time.Second)}
	}
	r.keyMu.Lock() // one worker makes a project's key; the others then read it from the cache
	key, err := passcodesecret.InviteKey(ctx, r.Client, r.APIReader, u.Namespace)
	r.keyMu.Unlock()
	if err != nil {
		return outcome{kind: deliveryWaiting, err: err}
	}
	inv := st.Invite
	linkHash := func(n int32) string { return invite.Hash(invite.Token(key, string(u.UID), n)) }
	if inv.TokenHash != "" && inv.TokenHash != linkHash(inv.Number) {
		inv.TokenHash = "" // made under another key (the key Secret was deleted): a new link
	}
	prepareAttempt(now, inv, linkHash)
	attempted = true
	r.holds.Delete(client.ObjectKeyFromObject(u))
	return r.send(ctx, u, st, now, o.ttl, invite.Token(key, string(u.UID), inv.Number), out)
}

// foreignInviteKey stalls the user's invite on an invite key Secret the operator did not create
// (someone else would know its links). The Secret is not watched, so it looks again every minute;
// the Warning Event is emitted once, when the user stalls on it.
func (r *DashboardUserReconciler) foreignInviteKey(u *accessv1alpha1.DashboardUser,
	err *passcodesecret.ForeignInviteKeyError) (ctrl.Result, *summary) {
	if c := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionStalled); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != accessv1alpha1.ReasonInviteKeyConflict {
		r.event(u, corev1.EventTypeWarning, accessv1alpha1.ReasonInviteKeyConflict, "%s", err.Error())
	}
	f := stall(userBackoff(u), accessv1alpha1.ReasonInviteKeyConflict, err.Error())
	u.Status.ObservedGeneration = u.Generation
	return ctrl.Result{RequeueAfter: time.Minute}, &summary{fail: &f}
}

// holdFirstInvite reports whether (and how long) a user's first invite waits for its Passcodes, so
// that the one status write that records the invite also shows them: while one is not acted on yet
// (a Passcode's status change wakes the user), and for a second once when none is seen yet
// (Passcodes applied together with the user). It counts in memory, not by the clock, and gives up
// after maxInviteHolds.
func (r *DashboardUserReconciler) holdFirstInvite(u *accessv1alpha1.DashboardUser, inv *accessv1alpha1.InviteStatus,
	pcs []accessv1alpha1.Passcode) (time.Duration, bool) {
	if inv.Number != 0 {
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

// send delivers the link of the attempt prepared in st and records the outcome there: when to look
// again, and Ready's state when it changed.
func (r *DashboardUserReconciler) send(ctx context.Context, u *accessv1alpha1.DashboardUser, st *accessv1alpha1.DashboardUserStatus,
	now time.Time, ttl time.Duration, token string, out outcome) outcome {
	inv := st.Invite
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
	out.kind = deliveryDone
	if err != nil {
		// Notifiers keep the link out of their errors; strip it anyway before it reaches status.
		msg := strings.ReplaceAll(err.Error(), token, "<token>")
		metrics.InviteDeliveries.WithLabelValues(u.Namespace, "failed").Inc()
		wait := deliveryFailed(now, inv, msg)
		out.events = append(out.events, userEvent{corev1.EventTypeWarning, accessv1alpha1.ReasonInviteFailed,
			fmt.Sprintf("Delivering the invite failed (attempt %d): %s", inv.Attempts, msg)})
		out.reason = accessv1alpha1.ReasonInviteFailed
		out.msg = fmt.Sprintf("Delivering the invite failed (attempt %d, retry in %s): %s", inv.Attempts, wait, msg)
		out.requeueAt = now.Add(wait)
		return out
	}
	metrics.InviteDeliveries.WithLabelValues(u.Namespace, "sent").Inc()
	delivered(now, st, ttl)
	if inv.Number > 1 {
		// A first invite is told by status alone (Ready: Invited, invite.sentAt); a new link after a
		// resend or a renewed grant replaces one, so it is recorded as an Event too.
		out.events = append(out.events, userEvent{corev1.EventTypeNormal, accessv1alpha1.ReasonInvited,
			fmt.Sprintf("Invite %d sent to %s as %s", inv.Number, u.Spec.Email, u.Spec.Role)})
	}
	out.ready, out.reason, out.msg = metav1.ConditionTrue, accessv1alpha1.ReasonInvited, invitedMessage(u.Spec.Email, inv.ExpiresAt.Time)
	out.requeueAt = inv.ExpiresAt.Time
	return out
}
