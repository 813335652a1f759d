package ops

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
)

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

func passcode(ns, name, user string) *accessv1alpha1.Passcode {
	return &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: user}, Tenure: "30d"},
	}
}

func TestRevokePasscode(t *testing.T) {
	ctx := context.Background()
	c := fakeClient(t, passcode("team", "jane-api", "jane"))
	res, err := RevokePasscode(ctx, c, "team", "jane-api", DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) != 2 || res.Lines[0] != "passcode/jane-api revoked" || !strings.HasPrefix(res.Lines[1], "This is final:") {
		t.Errorf("lines %q", res.Lines)
	}
	pc, _ := GetPasscode(ctx, c, "team", "jane-api")
	if !pc.Spec.Revoked {
		t.Error("spec.revoked was not set")
	}
	again, err := RevokePasscode(ctx, c, "team", "jane-api", DryRunNone)
	if err != nil || len(again.Lines) != 1 || again.Lines[0] != "passcode/jane-api is already revoked (no change)" {
		t.Errorf("a second revoke: %q, %v", again.Lines, err)
	}
	if _, err := RevokePasscode(ctx, c, "team", "nope", DryRunNone); err == nil || err.Error() != `passcode "nope" not found in project (namespace) "team"` {
		t.Errorf("a missing passcode: %v", err)
	}
}

func TestResendInvite(t *testing.T) {
	ctx := context.Background()
	invited := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember},
		Status:     accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserInvited},
	}
	active := invited.DeepCopy()
	active.Name, active.Spec.Email, active.Status.Phase = "bob", "bob@example.com", accessv1alpha1.UserActive
	c := fakeClient(t, invited, active)
	res, err := ResendInvite(ctx, c, "team", "jane@example.com", DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) != 1 || !strings.HasPrefix(res.Lines[0], "dashboarduser/jane invite resend requested at ") || len(res.Warnings) != 0 {
		t.Errorf("result %+v", res)
	}
	u, _ := GetUser(ctx, c, "team", "jane")
	if u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation] == "" {
		t.Error("the resend annotation was not set")
	}
	res, err = ResendInvite(ctx, c, "team", "bob", DryRunNone)
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "already accepted an invite") {
		t.Errorf("an active user: %+v, %v", res, err)
	}
	if !CanResendInvite("Invited") || !CanResendInvite("InviteExpired") || CanResendInvite("Active") || CanResendInvite("Pending") {
		t.Error("CanResendInvite is wrong")
	}
}

func TestListPasscodesAndStatus(t *testing.T) {
	c := fakeClient(t, passcode("b", "x", "u"), passcode("a", "z", "u"), passcode("a", "y", "u"))
	got, err := ListPasscodes(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(got))
	for _, pc := range got {
		names = append(names, pc.Namespace+"/"+pc.Name)
	}
	if strings.Join(names, " ") != "a/y a/z b/x" {
		t.Errorf("order %v", names)
	}
	status := PasscodeStatus(&got[0])
	want := map[string]string{"Phase": "Pending", "Rotation": "Manual", "Secret": "y", "Last Used At": "<never>",
		"Ready": "Unknown (the operator has not reported yet)"}
	for _, f := range status {
		if w, ok := want[f[0]]; ok && f[1] != w {
			t.Errorf("%s: %q, want %q", f[0], f[1], w)
		}
	}
	if status[0] != [2]string{"Passcode", "y"} {
		t.Errorf("first field %v", status[0])
	}
}

func TestSummarizePasscodes(t *testing.T) {
	now := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	active := func(expiresIn time.Duration) accessv1alpha1.Passcode {
		pc := passcode("team", "a", "jane")
		pc.Status.Phase = accessv1alpha1.PasscodeActive
		pc.Status.ExpiresAt = &metav1.Time{Time: now.Add(expiresIn)}
		return *pc
	}
	phase := func(p accessv1alpha1.PasscodePhase) accessv1alpha1.Passcode {
		pc := passcode("team", "b", "jane")
		pc.Status.Phase = p
		return *pc
	}
	day := 24 * time.Hour
	cases := []struct {
		pcs  []accessv1alpha1.Passcode
		want accessv1alpha1.PasscodeSummary
	}{
		{nil, accessv1alpha1.PasscodeSummaryNone},
		{[]accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodePending)}, accessv1alpha1.PasscodeSummaryNone},
		{[]accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodeRevoked)}, accessv1alpha1.PasscodeSummaryRevoked},
		{[]accessv1alpha1.Passcode{phase(accessv1alpha1.PasscodeRevoked), phase(accessv1alpha1.PasscodeExpired)}, accessv1alpha1.PasscodeSummaryExpired},
		{[]accessv1alpha1.Passcode{active(20 * day)}, accessv1alpha1.PasscodeSummaryActive},
		// 30d tenure: Expiring from a third of it (10d) before the expiry.
		{[]accessv1alpha1.Passcode{active(5 * day), phase(accessv1alpha1.PasscodeRevoked)}, accessv1alpha1.PasscodeSummaryExpiring},
		{[]accessv1alpha1.Passcode{active(-time.Minute)}, accessv1alpha1.PasscodeSummaryExpired},
		{[]accessv1alpha1.Passcode{active(5 * day), active(20 * day)}, accessv1alpha1.PasscodeSummaryActive},
	}
	for i, tc := range cases {
		if got, _ := passcodestatus.Summarize(now, tc.pcs); got != tc.want {
			t.Errorf("case %d: %s, want %s", i, got, tc.want)
		}
	}
	users := []accessv1alpha1.DashboardUser{{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"},
		Status: accessv1alpha1.DashboardUserStatus{PasscodeStatus: accessv1alpha1.PasscodeSummaryActive}}}
	other := phase(accessv1alpha1.PasscodeRevoked)
	other.Namespace = "elsewhere"
	if rows := RowsWithPasscodes(users, []accessv1alpha1.Passcode{other}, now); rows[0].PasscodeStatus != "None" {
		t.Errorf("a Passcode of another project counted: %s", rows[0].PasscodeStatus)
	}
}
