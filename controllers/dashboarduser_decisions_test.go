package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
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
		got, next := summarizePasscodes(c.now, c.pcs)
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
	resetInvite(u)
	if u.Status.Invite.TokenHash != "" || u.Status.Invite.Number != 3 || u.Status.Phase != accessv1alpha1.UserPending {
		t.Fatalf("resetInvite must drop the link and keep counting: %+v", u.Status.Invite)
	}
	u.Status.Invite.AcceptedAt = &metav1.Time{Time: t0}
	if !accepted(u) {
		t.Fatal("acceptedAt means accepted")
	}
}
