package ops

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
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
	var names []string
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
