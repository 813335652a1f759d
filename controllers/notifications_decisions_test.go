package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/notify"
)

func eventSet(types ...notify.EventType) notify.EventSet {
	var s notify.EventSet
	for _, t := range types {
		s = s.With(t)
	}
	return s
}

func TestDuePasscodeNotices(t *testing.T) {
	all := eventSet(notify.EventTypes()...)
	def, _ := notify.ParseEventSet(notify.DefaultEvents)
	// active("3d"): issued at t0, expires t0+3d; Manual, so expiring is due at t0+2d.
	notifyAt := t0.Add(48 * time.Hour)
	sent := func(rev int64, types ...string) func(*accessv1alpha1.Passcode) {
		return func(pc *accessv1alpha1.Passcode) {
			pc.Status.Notifications = &accessv1alpha1.PasscodeNotificationsStatus{Revision: rev, Sent: types}
		}
	}
	cases := []struct {
		name    string
		now     time.Time
		pc      *accessv1alpha1.Passcode
		enabled notify.EventSet
		due     string
		next    time.Time
	}{
		{"pending: nothing issued, nothing to tell", t0, &accessv1alpha1.Passcode{}, all, "", time.Time{}},
		{"first issue", t0, active("3d"), all, "passcode.issued", notifyAt},
		{"first issue, default types: no issued, expiring scheduled", t0, active("3d"), def, "", notifyAt},
		{"issued already delivered", t0, active("3d", sent(1, "passcode.issued")), all, "", notifyAt},
		{"nothing enabled", t0, active("3d"), 0, "", time.Time{}},
		{"expiring at expiresAt - renewBefore", notifyAt, active("3d", sent(1, "passcode.issued")), all, "passcode.expiring", time.Time{}},
		{"expiring delivered", notifyAt, active("3d", sent(1, "passcode.issued", "passcode.expiring")), all, "", time.Time{}},
		{"a crash lost both records: both again, in order", t0.Add(8 * time.Hour), active("12h"), all,
			"passcode.issued,passcode.expiring", time.Time{}},
		{"an issue older than maxNotificationAge is no news", notifyAt.Add(time.Hour), active("3d"), all,
			"passcode.expiring", time.Time{}},
		{"a later revision starts afresh", t0, active("3d", func(pc *accessv1alpha1.Passcode) { pc.Status.Revision = 2 },
			sent(1, "passcode.issued", "passcode.expiring")), all, "passcode.rotated", notifyAt},
		{"Automatic: never expiring", notifyAt, active("3d", automaticRotation, sent(1, "passcode.issued")), all, "", time.Time{}},
		{"past expiresAt but not expired yet: expiring is no news", t0.Add(72 * time.Hour), active("3d", sent(1, "passcode.issued")), all,
			"", time.Time{}},
		{"expired", t0.Add(72 * time.Hour), active("3d", expiredPhase, sent(1, "passcode.issued", "passcode.expiring")), all,
			"passcode.expired", time.Time{}},
		{"expired long ago (a type enabled later): not sent", t0.Add(72*time.Hour + maxNotificationAge), active("3d", expiredPhase,
			sent(1, "passcode.issued", "passcode.expiring")), all, "", time.Time{}},
		{"revoked", t0.Add(time.Hour), active("3d", func(pc *accessv1alpha1.Passcode) { pc.Status.Phase = accessv1alpha1.PasscodeRevoked },
			sent(1, "passcode.issued")), all, "passcode.revoked", time.Time{}},
	}
	for _, c := range cases {
		due, next := duePasscodeNotices(c.now, c.pc, c.enabled)
		var got []string
		for _, d := range due {
			got = append(got, string(d.typ))
		}
		if strings.Join(got, ",") != c.due || !next.Equal(c.next) {
			t.Errorf("%s: due %v next %v, want %q next %v", c.name, got, next, c.due, c.next)
		}
	}
}

func automaticRotation(pc *accessv1alpha1.Passcode) {
	pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}
}

func expiredPhase(pc *accessv1alpha1.Passcode) { pc.Status.Phase = accessv1alpha1.PasscodeExpired }

func TestMarkNotifiedAndKeys(t *testing.T) {
	pc := active("3d")
	pc.UID = "pc-uid"
	markNotified(pc, notify.EventPasscodeIssued)
	markNotified(pc, notify.EventPasscodeIssued)
	if n := pc.Status.Notifications; n.Revision != 1 || strings.Join(n.Sent, ",") != "passcode.issued" {
		t.Fatalf("notifications %+v", n)
	}
	ev := passcodeEvent(passcodeNotice{typ: notify.EventPasscodeIssued, at: t0}, pc, nil)
	pc.Status.Revision = 2
	markNotified(pc, notify.EventPasscodeRotated)
	if n := pc.Status.Notifications; n.Revision != 2 || strings.Join(n.Sent, ",") != "passcode.rotated" {
		t.Fatalf("a new revision starts a new record: %+v", n)
	}
	ev2 := passcodeEvent(passcodeNotice{typ: notify.EventPasscodeIssued, at: t0}, pc, nil)
	if ev.IdempotencyKey == ev2.IdempotencyKey || ev.IdempotencyKey != notify.EventKey(notify.EventPasscodeIssued, "pc-uid", "1") {
		t.Errorf("keys %s %s", ev.IdempotencyKey, ev2.IdempotencyKey)
	}
	if ev.Email != "" {
		t.Errorf("no user, no email: %q", ev.Email)
	}
}

func TestQueueNotifications(t *testing.T) {
	at := metav1.NewTime(t0)
	role := accessv1alpha1.PendingNotification{Type: string(notify.EventUserRoleChanged), Generation: 2, Role: "Admin", PreviousRole: "Member", At: at}
	revoked := accessv1alpha1.PendingNotification{Type: string(notify.EventUserAccessRevoked), Generation: 3, At: at}
	if got := queueNotifications(nil, []accessv1alpha1.PendingNotification{role, revoked}, eventSet(notify.EventUserAccessRevoked)); len(got) != 1 ||
		got[0].Type != revoked.Type {
		t.Errorf("only enabled types are queued: %v", got)
	}
	got := queueNotifications([]accessv1alpha1.PendingNotification{role}, []accessv1alpha1.PendingNotification{role},
		eventSet(notify.EventTypes()...))
	if len(got) != 1 {
		t.Errorf("a change seen twice (a stale cache) is queued once: %v", got)
	}
	many := make([]accessv1alpha1.PendingNotification, 0, 20)
	for i := range 20 {
		many = append(many, accessv1alpha1.PendingNotification{Type: role.Type, Generation: int64(i), At: at})
	}
	got = queueNotifications(nil, many, eventSet(notify.EventTypes()...))
	if len(got) != maxPendingNotifications || got[0].Generation != 4 {
		t.Errorf("bounded, keeping the newest: %d from generation %d", len(got), got[0].Generation)
	}
	u := &accessv1alpha1.DashboardUser{}
	u.UID = "u-uid"
	if userEventKey(role, u.UID) == userEventKey(revoked, u.UID) {
		t.Error("two notifications share a key")
	}
}

func TestDecideUserAsksForNotifications(t *testing.T) {
	u := &accessv1alpha1.DashboardUser{Spec: accessv1alpha1.DashboardUserSpec{Email: "a@x.io", Role: accessv1alpha1.RoleAdmin}}
	u.Generation = 4
	u.Status.ObservedRole = accessv1alpha1.RoleMember
	d := decideUser(t0, u, userObserved{enabled: ^notify.EventSet(0)})
	if len(d.notices) != 1 || d.notices[0].Type != "user.role-changed" || d.notices[0].PreviousRole != "Member" || d.notices[0].Role != "Admin" ||
		d.notices[0].Generation != 4 {
		t.Errorf("role change: %+v", d.notices)
	}
	u.Status.ObservedRole = accessv1alpha1.RoleAdmin
	u.Spec.Access = accessv1alpha1.AccessRevoked
	if d := decideUser(t0, u, userObserved{enabled: ^notify.EventSet(0)}); len(d.notices) != 1 || d.notices[0].Type != "user.access-revoked" {
		t.Errorf("revocation: %+v", d.notices)
	}
	u.Status.Phase = accessv1alpha1.UserRevoked
	if d := decideUser(t0, u, userObserved{enabled: ^notify.EventSet(0)}); len(d.notices) != 0 {
		t.Errorf("already revoked: %+v", d.notices)
	}
}
