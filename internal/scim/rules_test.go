package scim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// SCIM asks internal/users what the operator's other layers ask: a group's members are its role's
// users, without users being deleted (as status.users and `roles delete` count them), and a role
// that does not exist is refused with the one message.
func TestGroupsAndRolesFollowTheSharedRules(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	member := func(name string, deleting bool) *accessv1alpha1.DashboardUser {
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
			Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@x.io", Role: accessv1alpha1.RoleMember}}
		if deleting {
			u.DeletionTimestamp, u.Finalizers = &now, []string{"example.com/hold"}
		}
		return u
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(member("stays", false), member("going", true)).Build()
	h := NewHandler(c, c, c, staticTokens{})
	send := func(method, path, body string) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+secretToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}

	code, body := send(http.MethodGet, "/scim/v2/team/Groups/Member", "")
	var group struct {
		Members []struct{ Value string } `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &group); code != http.StatusOK || err != nil {
		t.Fatalf("GET the Member group: %d %v\n%s", code, err, body)
	}
	if len(group.Members) != 1 || group.Members[0].Value != "stays" {
		t.Errorf("members %+v, want only stays (going is being deleted)", group.Members)
	}

	code, body = send(http.MethodPost, "/scim/v2/team/Users", `{"userName":"new@x.io","roles":[{"value":"ghost"}]}`)
	want := `roles: role \"ghost\" does not exist: create the DashboardRole \"ghost\" in namespace \"team\" or use a system role`
	if code != http.StatusBadRequest || !strings.Contains(body, want) {
		t.Errorf("a missing role: %d %s\nwant 400 with %s", code, body, want)
	}
}
