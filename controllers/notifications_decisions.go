package controllers

import (
	"slices"
	"strconv"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/notify"
)

// Pure decisions of the NotificationReconciler: what is due, for whom, under which key; functions
// of the objects and "now", table-tested without an API server.

// maxNotificationAge bounds how old a passcode notification may be and still be sent: a type
// enabled later, or a manager down for longer, does not flood receivers with old news.
const maxNotificationAge = 24 * time.Hour

// passcodeNotice is one notification due for a Passcode's current revision.
type passcodeNotice struct {
	typ notify.EventType
	at  time.Time // when it happened
}

// expiringAt is when a Manual passcode's passcode.expiring is due: expiresAt - renewBefore, the
// instant status.renewalTime has for Automatic ones (and the users page shows Expiring from).
func expiringAt(pc *accessv1alpha1.Passcode) (time.Time, bool) {
	if automatic(pc) || pc.Status.ExpiresAt == nil {
		return time.Time{}, false
	}
	t, err := specTimings(pc)
	if err != nil {
		return time.Time{}, false
	}
	return pc.Status.ExpiresAt.Add(-t.RenewBefore).Truncate(time.Second), true
}

// duePasscodeNotices returns the enabled notifications of pc's current revision that are not
// recorded as delivered, in lifecycle order, and when the next one falls due (zero: none waits).
func duePasscodeNotices(now time.Time, pc *accessv1alpha1.Passcode, enabled notify.EventSet) ([]passcodeNotice, time.Time) {
	st := &pc.Status
	if st.Revision == 0 || enabled == 0 {
		return nil, time.Time{} // nothing was ever issued: nothing to tell
	}
	var sent []string
	if n := st.Notifications; n != nil && n.Revision == st.Revision {
		sent = n.Sent
	}
	var due []passcodeNotice
	add := func(t notify.EventType, at time.Time) {
		if enabled.Has(t) && !slices.Contains(sent, string(t)) && now.Sub(at) < maxNotificationAge {
			due = append(due, passcodeNotice{typ: t, at: at})
		}
	}
	if st.IssuedAt != nil {
		add(issueEvent(st.Revision), st.IssuedAt.Time)
	}
	var next time.Time
	switch st.Phase {
	case accessv1alpha1.PasscodeActive:
		at, ok := expiringAt(pc)
		switch {
		case !ok || !enabled.Has(notify.EventPasscodeExpiring) || slices.Contains(sent, string(notify.EventPasscodeExpiring)):
		case now.Before(at):
			next = at
		case now.Before(st.ExpiresAt.Time):
			add(notify.EventPasscodeExpiring, at)
		}
	case accessv1alpha1.PasscodeExpired:
		if st.ExpiresAt != nil {
			add(notify.EventPasscodeExpired, st.ExpiresAt.Time)
		}
	case accessv1alpha1.PasscodeRevoked:
		at := now
		if c := apimeta.FindStatusCondition(st.Conditions, accessv1alpha1.ConditionReady); c != nil && c.Reason == accessv1alpha1.ReasonRevoked {
			at = c.LastTransitionTime.Time
		}
		add(notify.EventPasscodeRevoked, at)
	}
	return due, next
}

// issueEvent: the first passcode of a Passcode is issued; every later one replaced another.
func issueEvent(revision int64) notify.EventType {
	if revision == 1 {
		return notify.EventPasscodeIssued
	}
	return notify.EventPasscodeRotated
}

// markNotified records in status that t was delivered for the current revision.
func markNotified(pc *accessv1alpha1.Passcode, t notify.EventType) {
	n := pc.Status.Notifications
	if n == nil || n.Revision != pc.Status.Revision {
		n = &accessv1alpha1.PasscodeNotificationsStatus{Revision: pc.Status.Revision}
		pc.Status.Notifications = n
	}
	if !slices.Contains(n.Sent, string(t)) {
		n.Sent = append(n.Sent, string(t))
	}
}

// passcodeEvent is the event for notice about pc; user (may be nil) gives the recipient.
func passcodeEvent(notice passcodeNotice, pc *accessv1alpha1.Passcode, user *accessv1alpha1.DashboardUser) notify.Event {
	st := &pc.Status
	ev := notify.Event{
		Type:           notice.typ,
		Account:        pc.Namespace,
		User:           pc.Spec.UserRef.Name,
		PasscodeName:   pc.Name,
		Revision:       st.Revision,
		OccurredAt:     notice.at.UTC().Truncate(time.Second),
		IdempotencyKey: notify.EventKey(notice.typ, string(pc.UID), strconv.FormatInt(st.Revision, 10)),
	}
	if st.ExpiresAt != nil {
		ev.ExpiresAt = st.ExpiresAt.UTC()
	}
	if c := apimeta.FindStatusCondition(st.Conditions, accessv1alpha1.ConditionReady); c != nil {
		ev.Reason = c.Reason
	}
	if user != nil && user.DeletionTimestamp.IsZero() && (st.UserUID == "" || st.UserUID == user.UID) {
		ev.Email, ev.DisplayName = user.Spec.Email, user.Spec.DisplayName
	}
	return ev
}

// userNotification is the event for a pending notification of u.
func userNotification(p accessv1alpha1.PendingNotification, u *accessv1alpha1.DashboardUser) notify.Event {
	return notify.Event{
		Type:           notify.EventType(p.Type),
		Account:        u.Namespace,
		User:           u.Name,
		Email:          u.Spec.Email,
		DisplayName:    u.Spec.DisplayName,
		Role:           string(p.Role),
		PreviousRole:   string(p.PreviousRole),
		OccurredAt:     p.At.UTC(),
		IdempotencyKey: userEventKey(p, u.UID),
	}
}

// userEventKey derives a user notification's key: the user, the generation the change was seen
// at, and the roles.
func userEventKey(p accessv1alpha1.PendingNotification, uid types.UID) string {
	return notify.EventKey(notify.EventType(p.Type), string(uid), strconv.FormatInt(p.Generation, 10), string(p.PreviousRole), string(p.Role))
}

// maxPendingNotifications is the CRD's bound on status.pendingNotifications.
const maxPendingNotifications = 16

// queueNotifications adds the enabled notices to a user's pending notifications (the outbox),
// once each; beyond the bound the oldest are dropped.
func queueNotifications(pending, notices []accessv1alpha1.PendingNotification, enabled notify.EventSet) []accessv1alpha1.PendingNotification {
	for _, n := range notices {
		dup := slices.ContainsFunc(pending, func(p accessv1alpha1.PendingNotification) bool {
			return p.Type == n.Type && p.Generation == n.Generation
		})
		if enabled.Has(notify.EventType(n.Type)) && !dup {
			pending = append(pending, n)
		}
	}
	if len(pending) > maxPendingNotifications {
		pending = pending[len(pending)-maxPendingNotifications:]
	}
	return pending
}
