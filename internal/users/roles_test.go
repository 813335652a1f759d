package users

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
)

func user(name, role string, deleting bool) accessv1alpha1.DashboardUser {
	u := accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: accessv1alpha1.DashboardUserSpec{Role: accessv1alpha1.Role(role)}}
	if deleting {
		now := metav1.Now()
		u.DeletionTimestamp = &now
		u.Finalizers = []string{"f"}
	}
	return u
}

// A user being deleted is no user of its role: every count of a role's users says so.
func TestUsersOfARoleLeaveOutUsersBeingDeleted(t *testing.T) {
	list := []accessv1alpha1.DashboardUser{
		user("a", "analyst", false), user("b", "analyst", true), user("c", "Admin", false), user("d", "analyst", false),
	}
	got := OfRole(list, "analyst")
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "d" {
		t.Errorf("OfRole = %v, want a and d", got)
	}
	if n := CountOfRole(list, "analyst"); n != 2 {
		t.Errorf("CountOfRole(analyst) = %d, want 2", n)
	}
	if n := CountOfRole(list, "Admin"); n != 1 {
		t.Errorf("CountOfRole(Admin) = %d, want 1", n)
	}
	if UsesRole(&list[1], "analyst") || Counted(&list[1]) {
		t.Error("a user being deleted counts")
	}
}

func TestRoleExists(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "access.dashboardops.io", Resource: "dashboardroles"}, "analyst")
	boom := errors.New("connection refused")
	for _, tt := range []struct {
		name, role string
		got        error // what the read returns
		reads      int
		want       string // "" = exists
	}{
		{"system role, no read", "Admin", boom, 0, ""},
		{"custom role found", "analyst", nil, 1, ""},
		{"custom role missing", "analyst", notFound,
			1, `role "analyst" does not exist: create the DashboardRole "analyst" in namespace "team" or use a system role (Admin, Creator, Member or Approver)`},
		{"read failed", "analyst", boom, 1, "connection refused"},
		{"another spelling of a system role is a custom role", "admin", notFound, 1, `role "admin" does not exist`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			err := RoleExists(context.Background(), func(_ context.Context, key types.NamespacedName) error {
				reads++
				if key != (types.NamespacedName{Namespace: "team", Name: tt.role}) {
					t.Errorf("read %v", key)
				}
				return tt.got
			}, "team", tt.role)
			if reads != tt.reads {
				t.Errorf("%d reads, want %d", reads, tt.reads)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("RoleExists = %v, want nil", err)
			case tt.want != "" && (err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want):
				t.Errorf("RoleExists = %v, want %q", err, tt.want)
			}
			var missing *MissingRoleError
			if errors.As(err, &missing) != errors.Is(tt.got, notFound) {
				t.Errorf("MissingRoleError = %v for a read that returned %v", err, tt.got)
			}
		})
	}
}

// The API's Role constants are the system roles' spellings for Go clients; internal/roles is the
// list every check uses. They are two definitions, so this holds them together.
func TestTheAPISpellsTheSystemRoles(t *testing.T) {
	api := []accessv1alpha1.Role{accessv1alpha1.RoleAdmin, accessv1alpha1.RoleCreator, accessv1alpha1.RoleMember, accessv1alpha1.RoleApprover}
	if len(api) != len(roles.SystemNames) {
		t.Fatalf("the API has %d system roles, internal/roles %d", len(api), len(roles.SystemNames))
	}
	for i, r := range api {
		if string(r) != roles.SystemNames[i] {
			t.Errorf("system role %d: the API spells %q, internal/roles %q", i, r, roles.SystemNames[i])
		}
	}
}
