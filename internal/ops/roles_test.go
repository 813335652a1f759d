package ops

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
)

func TestValidateRoleName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"analyst", ""},
		{"a", ""},
		{"report-writers-2", ""},
		{strings.Repeat("a", 63), ""},
		{"Admin", "the system role Admin is built in"},
		{"admin", "the system role Admin is built in"},
		{"APPROVER", "the system role Approver is built in"},
		{"Analyst", `lower-case letters, digits and '-', starting and ending with a letter or digit (did you mean "analyst"?)`},
		{"a.b", "lower-case letters"},
		{"-a", "lower-case letters"},
		{"a-", "lower-case letters"},
		{"", "lower-case letters"},
		{strings.Repeat("a", 64), "at most 63 characters (it has 64)"},
	}
	for _, tt := range tests {
		err := ValidateRoleName(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestParsePermissions(t *testing.T) {
	got, err := ParsePermissions([]string{"exports.download", " reports.read , dashboards.read", "reports.read", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []roles.Permission{roles.ReportsRead, roles.DashboardsRead, roles.ExportsDownload}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (deduplicated, in vocabulary order)", got, want)
		}
	}

	allowed := "must be one of " + strings.Join(roles.KnownNames(), ", ")
	bad := []struct {
		values []string
		want   string
	}{
		{[]string{"Reports.Read"}, `unknown permission "Reports.Read" (did you mean reports.read?): ` + allowed},
		{[]string{"reports:write"}, "(did you mean reports.write?)"},
		{[]string{"report.read"}, "(did you mean reports.read?)"},
		{[]string{"EXPORTS_DOWNLOAD"}, "(did you mean exports.download?)"},
		{[]string{"reports.read,root"}, `unknown permission "root": ` + allowed},
		{[]string{"a", "b"}, `unknown permission "a", "b": `},
		{nil, "no permission given: name at least one of reports.read"},
		{[]string{" , "}, "no permission given"},
	}
	for _, tt := range bad {
		_, err := ParsePermissions(tt.values)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.values, err, tt.want)
		}
	}
}

func TestValidateRoleDescription(t *testing.T) {
	if err := ValidateRoleDescription("reads reports, downloads exports"); err != nil {
		t.Error(err)
	}
	if err := ValidateRoleDescription(strings.Repeat("x", 257)); err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Errorf("257 characters: %v", err)
	}
	if err := ValidateRoleDescription("a\x1b[31mb"); err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("an escape sequence: %v", err)
	}
}

func TestSystemRoleObjects(t *testing.T) {
	objs := SystemRoleObjects("p")
	if len(objs) != len(roles.SystemNames) {
		t.Fatalf("%d objects", len(objs))
	}
	for i, o := range objs {
		want, _ := roles.System(roles.SystemNames[i])
		if o.Name != roles.SystemNames[i] || o.Namespace != "p" || len(o.Spec.Permissions) != len(want) || o.Spec.Description == "" {
			t.Errorf("%d: %+v", i, o)
		}
	}
}

func newFakeClient(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	if funcs != nil {
		return interceptor.NewClient(c, *funcs)
	}
	return c
}

func role(ns, name string) *accessv1alpha1.DashboardRole {
	return &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
}

func user(ns, name, role string) *accessv1alpha1.DashboardUser {
	return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@x.io", Role: accessv1alpha1.Role(role)}}
}

func TestDeleteRole(t *testing.T) {
	ctx := context.Background()
	objs := make([]client.Object, 0, 12)
	objs = append(objs, role("p", "analyst"), role("p", "unused"), role("q", "analyst"))
	for _, n := range []string{"g", "f", "e", "d", "c", "b", "a"} {
		objs = append(objs, user("p", n, "analyst"))
	}
	objs = append(objs, user("p", "z", "Member"), user("q", "y", "analyst"))
	c := newFakeClient(t, nil, objs...)

	_, err := DeleteRole(ctx, c, "p", "analyst", false, DryRunNone)
	var inUse *RoleInUseError
	if !errors.As(err, &inUse) || inUse.Count != 7 {
		t.Fatalf("in use: %v", err)
	}
	if want := "7 users name this role (a@x.io, b@x.io, c@x.io, d@x.io, e@x.io, and 2 more); they will lose its permissions"; !strings.Contains(err.Error(), want) {
		t.Errorf("%v\nwant %q", err, want)
	}

	res, err := DeleteRole(ctx, c, "p", "analyst", true, DryRunClient)
	if err != nil || res.Lines[0] != "dashboardrole/analyst deleted (dry run)" || len(res.Warnings) != 1 {
		t.Fatalf("--force --dry-run=client: %+v, %v", res, err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "p", Name: "analyst"}, &accessv1alpha1.DashboardRole{}); err != nil {
		t.Fatalf("a client dry run deleted the role: %v", err)
	}
	if _, err := DeleteRole(ctx, c, "p", "analyst", true, DryRunNone); err != nil {
		t.Fatal(err)
	}
	if _, err := DeleteRole(ctx, c, "p", "unused", false, DryRunNone); err != nil {
		t.Fatal(err)
	}
	if _, err := DeleteRole(ctx, c, "p", "unused", false, DryRunNone); err == nil || !strings.Contains(err.Error(), `dashboardrole "unused" not found`) {
		t.Errorf("deleted twice: %v", err)
	}
	if _, err := DeleteRole(ctx, c, "p", "Admin", true, DryRunNone); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "the system role Admin is built in") {
		t.Errorf("Admin: %v", err)
	}
}

// A user being deleted is no user of the role (users.Counted): it does not hold `roles delete`
// back, and USERS does not count it either, so the refusal and the table agree.
func TestDeleteRoleAndCountsLeaveOutUsersBeingDeleted(t *testing.T) {
	ctx := context.Background()
	going := user("p", "going", "analyst")
	going.Finalizers = []string{"access.dashboardops.io/cleanup"}
	now := metav1.Now()
	going.DeletionTimestamp = &now
	c := newFakeClient(t, nil, role("p", "analyst"), going, user("p", "stays", "Member"))

	counts, err := RoleCounts(ctx, c)
	if err != nil || counts["p"]["analyst"] != 0 || counts["p"]["Member"] != 1 {
		t.Fatalf("RoleCounts = %v, %v; want analyst 0, Member 1", counts, err)
	}
	res, err := DeleteRole(ctx, c, "p", "analyst", false, DryRunNone)
	if err != nil || len(res.Warnings) != 0 {
		t.Fatalf("refused over a user being deleted: %+v, %v", res, err)
	}
}

func TestDeleteRoleFallsBackToStatusUsers(t *testing.T) {
	r := role("p", "analyst")
	r.Status.Users = 2
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "access.dashboardops.io", Resource: "dashboardusers"}, "", errors.New("no"))
	c := newFakeClient(t, &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*accessv1alpha1.DashboardUserList); ok {
			return forbidden
		}
		return c.List(ctx, list, opts...)
	}}, r)
	res, err := DeleteRole(context.Background(), c, "p", "analyst", false, DryRunNone)
	if err == nil || !strings.Contains(err.Error(), "2 users name this role;") || len(res.Warnings) != 1 {
		t.Errorf("%+v, %v", res, err)
	}
}

func TestCheckRoleExistsAndForbidden(t *testing.T) {
	ctx := context.Background()
	c := newFakeClient(t, nil, role("p", "analyst"))
	for _, r := range []accessv1alpha1.Role{"Admin", "Approver", "analyst"} {
		if err := CheckRoleExists(ctx, c, "p", r); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	err := CheckRoleExists(ctx, c, "q", "analyst")
	var missing *MissingRoleError
	if !errors.As(err, &missing) {
		t.Fatalf("missing: %v", err)
	}
	want := `role "analyst" does not exist: create the DashboardRole "analyst" in namespace "q" or use a system role ` +
		`(Admin, Creator, Member or Approver)`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}

	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "access.dashboardops.io", Resource: "dashboardroles"}, "analyst", errors.New("RBAC"))
	fc := newFakeClient(t, &interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return forbidden
		},
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
			return forbidden
		},
	})
	err = CheckRoleExists(ctx, fc, "p", "analyst")
	if !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), `not allowed to get dashboardroles in project (namespace) "p"`) {
		t.Errorf("forbidden get: %v", err)
	}
	_, err = CreateRole(ctx, fc, "p", NewRole{Name: "analyst", Permissions: []roles.Permission{roles.ReportsRead}}, DryRunNone)
	if !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), "not allowed to create dashboardroles") {
		t.Errorf("forbidden create: %v", err)
	}
}

func TestCreateRoleAlreadyExists(t *testing.T) {
	c := newFakeClient(t, nil, role("p", "analyst"))
	_, err := CreateRole(context.Background(), c, "p", NewRole{Name: "analyst", Permissions: []roles.Permission{roles.ReportsRead}}, DryRunNone)
	if err == nil || !strings.Contains(err.Error(), `dashboardrole "analyst" already exists in project (namespace) "p"`) {
		t.Errorf("%v", err)
	}
	res, err := CreateRole(context.Background(), c, "p", NewRole{Name: "writer", Permissions: []roles.Permission{roles.ReportsRead, roles.ReportsWrite}}, DryRunNone)
	if err != nil || res.Lines[0] != "dashboardrole/writer created with permissions reports.read, reports.write" {
		t.Errorf("%+v, %v", res, err)
	}
}
