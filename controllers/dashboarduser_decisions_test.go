package controllers

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
)

func TestSummarizePasscodes(t *testing.T) {
	activeFor := func(tenure string, mods ...func(*accessv1alpha1.Passcode)) accessv1alpha1.Passcode {
		return *active(tenure, mods...)
	}
	phase := func(p accessv1alpha1.PasscodePhase) accessv1alpha1.Passcode { return *active("1h", withPhase(p)) }
	cases := []struct {
		name string
		now  time.Time
		pcs  []accessv1alpha1.Passcode
		want accessv1alpha1.PasscodeSummary
		next time.Duration
	}{
		{"no passcodes", t0, nil, accessv1alpha1.PasscodeSummaryNone, 0},
		{"only pending", t0, []accessv1alpha1.Passcode{{}}, accessv1alpha1.PasscodeSummaryNone, 0},
		{"active flips to expiring at a third before expiry", t0, []accessv1alpha1.Passcode{activeFor("30d")},
			accessv1alpha1.PasscodeSummaryActive, 20 * 24 * time.Hour},
		{"inside the renew window", t0.Add(21 * 24 * time.Hour), []accessv1alpha1.Passcode{activeFor("30d")},
			accessv1alpha1.PasscodeSummaryExpiring, 9 * 24 * time.Hour},
		{"past expiresAt before the controller acted", t0.Add(31 * 24 * time.Hour), []accessv1alpha1.Passcode{activeFor("30d")},
			accessv1alpha1.PasscodeSummaryExpired, 0},
		{"explicit renewBefore", t0.Add(25 * 24 * time.Hour), []accessv1alpha1.Passcode{activeFor("30d", withAutomatic("2d", ""))},
			accessv1alpha1.PasscodeSummaryActive, 3 * 24 * time.Hour},
		{"the best one wins", t0, []accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodeRevoked), activeFor("30d"), phase(accessv1alpha1.PasscodeExpired)},
			accessv1alpha1.PasscodeSummaryActive, 20 * 24 * time.Hour},
		{"expired beats revoked", t0, []accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodeRevoked), phase(accessv1alpha1.PasscodeExpired)},
			accessv1alpha1.PasscodeSummaryExpired, 0},
		{"revoked only", t0, []accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodeRevoked)}, accessv1alpha1.PasscodeSummaryRevoked, 0},
	}
	for _, c := range cases {
		got, next := passcodestatus.Summarize(c.now, c.pcs)
		if got != c.want || next != c.next {
			t.Errorf("%s: got %s next %v, want %s next %v", c.name, got, next, c.want, c.next)
		}
	}
}

func TestInviteDecisions(t *testing.T) {
	u := &accessv1alpha1.DashboardUser{}
	if accepted(u) || inviteLinkExpired(t0, u) {
		t.Fatal("a user without an invite has neither accepted nor expired")
	}
	u.Status.Invite = &accessv1alpha1.InviteStatus{Number: 3, TokenHash: "sha256:x", ExpiresAt: mt(t0), SentAt: mt(t0.Add(-time.Hour))}
	if inviteLinkExpired(t0.Add(-time.Second), u) || !inviteLinkExpired(t0, u) {
		t.Fatal("an invite works until expiresAt, not from it")
	}
	u.Annotations = map[string]string{accessv1alpha1.ResendInviteRequestedAtAnnotation: "2026-01-01T00:00:00Z"}
	if _, asked := pendingResend(u); !asked {
		t.Fatal("a new resend value is pending")
	}
	u.Status.LastResendRequestedAt = "2026-01-01T00:00:00Z"
	if _, asked := pendingResend(u); asked {
		t.Fatal("a handled resend value is not pending again")
	}
	resetInviteStatus(&u.Status)
	if u.Status.Invite.TokenHash != "" || u.Status.Invite.Number != 3 || u.Status.Phase != accessv1alpha1.UserPending {
		t.Fatalf("resetInviteStatus must drop the link and keep counting: %+v", u.Status.Invite)
	}
	u.Status.Invite.AcceptedAt = &metav1.Time{Time: t0}
	if !accepted(u) {
		t.Fatal("acceptedAt means accepted")
	}
}

func TestDecideUser(t *testing.T) {
	window := t0.Truncate(10 * time.Second)
	user := func(mods ...func(*accessv1alpha1.DashboardUser)) *accessv1alpha1.DashboardUser {
		u := &accessv1alpha1.DashboardUser{Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember,
			Access: accessv1alpha1.AccessGranted}}
		u.Status.ObservedRole = accessv1alpha1.RoleMember
		for _, m := range mods {
			m(u)
		}
		return u
	}
	inv := func(i accessv1alpha1.InviteStatus, phase accessv1alpha1.UserPhase) func(*accessv1alpha1.DashboardUser) {
		return func(u *accessv1alpha1.DashboardUser) { u.Status.Invite, u.Status.Phase = &i, phase }
	}
	revoked := func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked }
	resend := func(u *accessv1alpha1.DashboardUser) {
		u.Annotations = map[string]string{accessv1alpha1.ResendInviteRequestedAtAnnotation: "2026-03-01T10:00:00Z"}
	}
	sent := accessv1alpha1.InviteStatus{Number: 1, TokenHash: "sha256:a", SentAt: mt(t0.Add(-time.Hour)), ExpiresAt: mt(t0.Add(time.Hour))}
	acceptedInv := sent
	acceptedInv.AcceptedAt = mt(t0.Add(-time.Minute))
	expiredInv := sent
	expiredInv.ExpiresAt = mt(t0)

	cases := []struct {
		name      string
		u         *accessv1alpha1.DashboardUser
		step      userStep
		phase     accessv1alpha1.UserPhase
		reason    string
		events    []string
		keepsLink bool // the current link's hash survives
		requeueAt time.Time
	}{
		{"a new user is invited", user(), userDeliver, accessv1alpha1.UserPending, accessv1alpha1.ReasonProgressing, nil, false, time.Time{}},
		{"an attempt recorded without a failure is tried again (same link)", user(inv(accessv1alpha1.InviteStatus{Number: 1,
			TokenHash: "sha256:a", LastAttemptAt: mt(window.Add(-time.Second))}, accessv1alpha1.UserPending)), userDeliver,
			accessv1alpha1.UserPending, accessv1alpha1.ReasonProgressing, nil, true, time.Time{}},
		{"a failed delivery waits for its retry", user(inv(accessv1alpha1.InviteStatus{Number: 1, TokenHash: "sha256:a",
			LastAttemptAt: mt(window), NextAttemptAt: mt(t0.Add(4 * time.Second))}, accessv1alpha1.UserPending)), userWaitRetry,
			accessv1alpha1.UserPending, accessv1alpha1.ReasonInviteFailed, nil, true, t0.Add(4 * time.Second)},
		{"a failed delivery is retried after its backoff, reserving again", user(inv(accessv1alpha1.InviteStatus{Number: 1, TokenHash: "sha256:a",
			LastAttemptAt: mt(window), NextAttemptAt: mt(t0)}, accessv1alpha1.UserPending)), userDeliver,
			accessv1alpha1.UserPending, accessv1alpha1.ReasonProgressing, nil, true, time.Time{}},
		{"an invited user waits until the link expires", user(inv(sent, accessv1alpha1.UserInvited)), userSettled,
			accessv1alpha1.UserInvited, accessv1alpha1.ReasonInvited, nil, true, t0.Add(time.Hour)},
		{"the link expires at expiresAt", user(inv(expiredInv, accessv1alpha1.UserInvited)), userSettled,
			accessv1alpha1.UserInviteExpired, accessv1alpha1.ReasonInviteExpired, []string{accessv1alpha1.ReasonInviteExpired}, true, time.Time{}},
		{"accepting makes the user Active", user(inv(acceptedInv, accessv1alpha1.UserInvited)), userSettled,
			accessv1alpha1.UserActive, accessv1alpha1.ReasonAccepted, nil, true, time.Time{}},
		{"a resend makes a new link", user(inv(expiredInv, accessv1alpha1.UserInviteExpired), resend), userDeliver,
			accessv1alpha1.UserPending, accessv1alpha1.ReasonProgressing, []string{accessv1alpha1.ReasonProgressing}, false, time.Time{}},
		{"a resend after acceptance is refused", user(inv(acceptedInv, accessv1alpha1.UserActive), resend), userSettled,
			accessv1alpha1.UserActive, accessv1alpha1.ReasonAccepted, []string{accessv1alpha1.ReasonResendRefused}, true, time.Time{}},
		{"revoking kills the link", user(inv(sent, accessv1alpha1.UserInvited), revoked), userSettled,
			accessv1alpha1.UserRevoked, accessv1alpha1.ReasonAccessRevoked, []string{accessv1alpha1.ReasonAccessRevoked}, false, time.Time{}},
		{"revoked and asked to resend: refused", user(inv(sent, accessv1alpha1.UserRevoked), revoked, resend), userSettled,
			accessv1alpha1.UserRevoked, accessv1alpha1.ReasonAccessRevoked, []string{accessv1alpha1.ReasonResendRefused}, false, time.Time{}},
		{"granted again before accepting: a new invite", user(inv(accessv1alpha1.InviteStatus{Number: 1}, accessv1alpha1.UserRevoked)), userDeliver,
			accessv1alpha1.UserPending, accessv1alpha1.ReasonProgressing, []string{accessv1alpha1.ReasonAccessGranted}, false, time.Time{}},
		{"granted again after accepting: Active", user(inv(acceptedInv, accessv1alpha1.UserRevoked)), userSettled,
			accessv1alpha1.UserActive, accessv1alpha1.ReasonAccepted, []string{accessv1alpha1.ReasonAccessGranted}, true, time.Time{}},
		{"a role edit is an Event", user(inv(sent, accessv1alpha1.UserInvited), func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin }),
			userSettled, accessv1alpha1.UserInvited, accessv1alpha1.ReasonInvited, []string{accessv1alpha1.ReasonRoleChanged}, true, t0.Add(time.Hour)},
	}
	for _, c := range cases {
		orig := c.u.DeepCopy()
		d := decideUser(t0, c.u, userObserved{})
		var reasons []string
		for _, e := range d.events {
			reasons = append(reasons, e.reason)
		}
		hash := ""
		if d.status.Invite != nil {
			hash = d.status.Invite.TokenHash
		}
		if d.step != c.step || d.status.Phase != c.phase || d.reason != c.reason || fmt.Sprint(reasons) != fmt.Sprint(c.events) ||
			(hash != "" && hash == "sha256:a") != c.keepsLink || !d.requeueAt.Equal(c.requeueAt) {
			t.Errorf("%s: step %v phase %s reason %s events %v link %q requeue %v", c.name, d.step, d.status.Phase, d.reason, reasons, hash, d.requeueAt)
		}
		if !equality.Semantic.DeepEqual(orig, c.u) {
			t.Errorf("%s: decideUser changed its input", c.name)
		}
		if d.status.ObservedRole != c.u.Spec.Role {
			t.Errorf("%s: the role is observed", c.name)
		}
	}
}

func TestPrepareAttemptAndOutcomes(t *testing.T) {
	inv := &accessv1alpha1.InviteStatus{Number: 2}
	prepareAttempt(t0, inv, func(n int32) string { return fmt.Sprint("sha256:link-", n) })
	if inv.Number != 3 || inv.TokenHash != "sha256:link-3" || inv.Attempts != 1 || !inv.LastAttemptAt.Time.Equal(t0) {
		t.Fatalf("a new link is numbered and recorded with its attempt: %+v", inv)
	}
	wait := deliveryFailed(t0, inv, "smtp: 451 try later")
	if wait != time.Second || inv.LastError == "" || !inv.NextAttemptAt.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("a failure is recorded with its backoff: %v %+v", wait, inv)
	}
	prepareAttempt(t0.Add(time.Second), inv, func(int32) string { t.Fatal("a retry makes no new link"); return "" })
	if inv.Number != 3 || inv.Attempts != 2 || inv.NextAttemptAt != nil {
		t.Fatalf("a retry keeps the link and counts the attempt: %+v", inv)
	}
	st := &accessv1alpha1.DashboardUserStatus{Invite: inv}
	delivered(t0.Add(time.Second), st, time.Hour)
	if st.Phase != accessv1alpha1.UserInvited || inv.LastError != "" || !inv.ExpiresAt.Time.Equal(t0.Add(time.Hour+time.Second)) {
		t.Fatalf("delivered: %+v", st)
	}
}
