package accessserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/roles"
)

const permCode = "dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// roleServer is the access server over a fake cache holding jane's Active passcode (permCode),
// jane with the given role, and the given DashboardRoles; the client lets tests edit them.
func roleServer(t testing.TB, role accessv1alpha1.Role, drs ...*accessv1alpha1.DashboardRole) (*Server, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pc, u := fixture()
	pc.Status.Hash = passcode.Hash(permCode)
	u.Spec.Role = role
	objs := make([]client.Object, 0, 2+len(drs))
	objs = append(objs, pc, u)
	for _, dr := range drs {
		objs = append(objs, dr)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	return New(Config{Reader: c, APIReader: c, Writer: c, Clock: clocktesting.NewFakeClock(now)}), c
}

func dashboardRole(name string, perms ...accessv1alpha1.Permission) *accessv1alpha1.DashboardRole {
	return &accessv1alpha1.DashboardRole{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
		Spec: accessv1alpha1.DashboardRoleSpec{Permissions: perms}}
}

// authAs asks /v1/auth with jane's passcode (or code) from peer, with a requirement in the query
// and in headers.
func authAs(h http.Handler, code, peer, query string, required ...string) answer {
	r := httptest.NewRequest(http.MethodGet, "/v1/auth"+query, nil)
	r.Header.Set(headerAccountID, "team")
	r.Header.Set(headerPasscode, code)
	for _, v := range required {
		r.Header.Add(headerRequiredPermission, v)
	}
	r.RemoteAddr = peer
	return ask(h, r)
}

func verifyAs(h http.Handler, code, peer, permission string) answer {
	body := fmt.Sprintf(`{"account":"team","passcode":%q}`, code)
	if permission != "" {
		body = fmt.Sprintf(`{"account":"team","passcode":%q,"permission":%q}`, code, permission)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
	r.RemoteAddr = peer
	return ask(h, r)
}

func permissionsIn(t *testing.T, body string) []string {
	t.Helper()
	var v struct {
		Permissions *[]string `json:"permissions"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Permissions == nil {
		t.Fatalf("no permissions in %q (%v)", body, err)
	}
	return *v.Permissions
}

func TestPermissionsOfSystemAndCustomRoles(t *testing.T) {
	admin, _ := roles.System(roles.Admin)
	member, _ := roles.System(roles.Member)
	cases := []struct {
		name   string
		role   accessv1alpha1.Role
		roles  []*accessv1alpha1.DashboardRole
		header string
	}{
		{"Admin", accessv1alpha1.RoleAdmin, nil, roles.Join(admin)},
		{"Member", accessv1alpha1.RoleMember, nil, roles.Join(member)},
		// Normalized: vocabulary order, no duplicate, nothing unknown (a newer version's name).
		{"custom", "analyst", []*accessv1alpha1.DashboardRole{dashboardRole("analyst", "reports.write", "bogus.grant", "reports.read", "reports.write")},
			"reports.read,reports.write"},
		{"custom, empty", "nobody", []*accessv1alpha1.DashboardRole{dashboardRole("nobody")}, ""},
		{"custom, missing", "ghost", nil, ""},
		{"a role of that name in another namespace", "analyst", []*accessv1alpha1.DashboardRole{{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "analyst"},
			Spec: accessv1alpha1.DashboardRoleSpec{Permissions: []accessv1alpha1.Permission{"reports.read"}}}}, ""},
	}
	for _, c := range cases {
		s, _ := roleServer(t, c.role, c.roles...)
		h := s.Handler()
		a := authAs(h, permCode, "192.0.2.1:1", "")
		if a.status != http.StatusOK || a.header.Get(headerPermissions) != c.header || len(a.header.Values(headerPermissions)) != 1 {
			t.Errorf("%s: auth %d, %s %q", c.name, a.status, headerPermissions, a.header.Values(headerPermissions))
		}
		// The header value is shared between answers: what is added to one never reaches another.
		a.header.Add(headerPermissions, "users.manage")
		if again := authAs(h, permCode, "192.0.2.1:1", ""); again.header.Get(headerPermissions) != c.header || len(again.header.Values(headerPermissions)) != 1 {
			t.Errorf("%s: after a handler added to one answer's header: %q", c.name, again.header.Values(headerPermissions))
		}
		v := verifyAs(h, permCode, "192.0.2.1:1", "")
		want := []string{}
		if c.header != "" {
			want = strings.Split(c.header, ",")
		}
		if got := permissionsIn(t, v.body); v.status != http.StatusOK || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: verify %d %q", c.name, v.status, v.body)
		}
	}
}

func TestRequiredPermission(t *testing.T) {
	s, _ := roleServer(t, "analyst", dashboardRole("analyst", "reports.read", "dashboards.read"))
	h := s.Handler()
	forbidden := `{"valid":false,"error":"missing permission reports.write"}` + "\n"
	cases := []struct {
		name     string
		query    string
		headers  []string
		status   int
		body     string // a prefix
		identity bool
	}{
		{"none", "", nil, 200, `{"valid":true}`, true},
		{"held, header", "", []string{"reports.read"}, 200, `{"valid":true}`, true},
		{"held, query", "?permission=reports.read", nil, 200, `{"valid":true}`, true},
		{"held, both, a list", "?permission=reports.read,%20dashboards.read", []string{"dashboards.read,"}, 200, `{"valid":true}`, true},
		{"empty requirement", "?permission=", []string{""}, 200, `{"valid":true}`, true},
		{"missing, header", "", []string{"reports.write"}, 403, forbidden, false},
		{"missing, query", "?permission=reports.write", nil, 403, forbidden, false},
		{"the first missing one is named", "?permission=settings.manage,reports.write", nil, 403, forbidden, false},
		// A client's query or header adds to the gateway's requirement; it never lifts it.
		{"held in the header, missing in the query", "?permission=reports.write", []string{"reports.read"}, 403, forbidden, false},
		{"held in the query, missing in the header", "?permission=reports.read", []string{"reports.write"}, 403, forbidden, false},
		{"two headers", "", []string{"reports.read", "reports.write"}, 403, forbidden, false},
		{"unknown, header", "", []string{"reports.delete"}, 400,
			`{"valid":false,"error":"bad request: header X-Dashboard-Required-Permission: unknown permission \"reports.delete\"; must be one of reports.read, reports.write,`, false},
		{"unknown, query", "?permission=Reports.Read", nil, 400,
			`{"valid":false,"error":"bad request: query parameter permission: unknown permission \"Reports.Read\"; must be one of reports.read,`, false},
		{"a malformed pair elsewhere in the query", "?x=%zz&permission=reports.write", nil, 403, forbidden, false},
	}
	for _, c := range cases {
		a := authAs(h, permCode, "192.0.2.1:1", c.query, c.headers...)
		if a.status != c.status || !strings.HasPrefix(a.body, c.body) || (a.header.Get(headerUser) != "") != c.identity ||
			a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %v %q", c.name, a.status, a.header, a.body)
		}
	}
	// An unknown requirement is answered 400 whatever the passcode, before it is looked at.
	if a := authAs(h, "dpc_WRONGWRONGWRONGWRONGWRONGW", "192.0.2.1:1", "?permission=nope"); a.status != http.StatusBadRequest {
		t.Errorf("unknown requirement, wrong passcode: %d %q", a.status, a.body)
	}
	// A wrong passcode with a requirement stays 401.
	if a := authAs(h, "dpc_WRONGWRONGWRONGWRONGWRONGW", "192.0.2.9:1", "?permission=reports.write"); a.status != http.StatusUnauthorized {
		t.Errorf("wrong passcode with a requirement: %d %q", a.status, a.body)
	}
	// /v1/verify takes the requirement in the body.
	for perm, want := range map[string]string{"": "200", "reports.read": "200", "reports.read,reports.write": "403 " + forbidden,
		"nope": `400 {"valid":false,"error":"bad request: field permission: unknown permission \"nope\"`} {
		a := verifyAs(h, permCode, "192.0.2.1:1", perm)
		if got := fmt.Sprint(a.status, " ", a.body); !strings.HasPrefix(got, want) {
			t.Errorf("verify %q: %s", perm, got)
		}
	}
	long := verifyAs(h, permCode, "192.0.2.1:1", strings.Repeat("x", 500))
	if long.status != http.StatusBadRequest || strings.Contains(long.body, strings.Repeat("x", maxEchoedPermission+1)) {
		t.Errorf("a long unknown name is echoed in full: %d %q", long.status, long.body)
	}
}

// TestForbiddenIsNotAFailure: a valid passcode without the permission is refused 403 as often as
// it is presented, never throttled, and the client's next wrong passcode is still its first
// failure; each 403 is counted as forbidden.
func TestForbiddenIsNotAFailure(t *testing.T) {
	s, _ := roleServer(t, accessv1alpha1.RoleMember)
	h := s.Handler()
	before := series(t)
	const n = 30 // more than the burst of failures
	for i := range n {
		if a := authAs(h, permCode, "192.0.2.7:1", "?permission=reports.write"); a.status != http.StatusForbidden {
			t.Fatalf("request %d: %d %q", i, a.status, a.body)
		}
	}
	for i := range 10 {
		if a := authAs(h, "dpc_WRONGWRONGWRONGWRONGWRONGW", "192.0.2.7:1", ""); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d after the 403s: %d (the 403s were counted as failures)", i+1, a.status)
		}
	}
	after := series(t)
	if got := after["access_operator_server_requests_total auth forbidden"] - before["access_operator_server_requests_total auth forbidden"]; got != n {
		t.Errorf("%d requests counted as forbidden, want %d", got, n)
	}
}

// TestRoleEditTakesEffect: the permissions follow the DashboardRole in the cache on the next
// request: an edit (a new resourceVersion), a delete (no permissions, still valid) and a re-create.
func TestRoleEditTakesEffect(t *testing.T) {
	ctx := context.Background()
	s, c := roleServer(t, "analyst", dashboardRole("analyst", "reports.read"))
	h := s.Handler()
	step := func(what, want string) {
		t.Helper()
		if a := authAs(h, permCode, "192.0.2.1:1", ""); a.status != http.StatusOK || a.header.Get(headerPermissions) != want {
			t.Fatalf("%s: %d %q", what, a.status, a.header.Get(headerPermissions))
		}
	}
	step("first", "reports.read")
	step("cached", "reports.read")
	dr := &accessv1alpha1.DashboardRole{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team", Name: "analyst"}, dr); err != nil {
		t.Fatal(err)
	}
	dr.Spec.Permissions = append(dr.Spec.Permissions, "reports.write")
	if err := c.Update(ctx, dr); err != nil {
		t.Fatal(err)
	}
	step("edited", "reports.read,reports.write")
	if err := c.Delete(ctx, dr); err != nil {
		t.Fatal(err)
	}
	step("deleted", "")
	if err := c.Create(ctx, dashboardRole("analyst", "users.manage")); err != nil {
		t.Fatal(err)
	}
	step("created again", "users.manage")
}

func TestRoleCacheIsBounded(t *testing.T) {
	var c roleCache
	for i := range maxCachedRoles + 10 {
		dr := dashboardRole(fmt.Sprint("r", i), "reports.read")
		dr.ResourceVersion = "1"
		if s := c.get(dr); s.header[0] != "reports.read" {
			t.Fatalf("%q", s.header)
		}
	}
	if len(c.sets) > maxCachedRoles {
		t.Fatalf("%d roles cached", len(c.sets))
	}
}

// FuzzRequiredPermission: whatever a gateway or client puts in the requirement, a valid passcode
// gets 200 exactly when every name is known and held, 403 when they are known and one is not
// held, 400 when one is unknown; never a 5xx.
func FuzzRequiredPermission(f *testing.F) {
	s, _ := roleServer(f, accessv1alpha1.RoleMember)
	h := s.Handler()
	member, _ := roles.System(roles.Member)
	f.Add("reports.read", "dashboards.read")
	f.Add("reports.write", "")
	f.Add(" ,reports.read,,", "nope")
	f.Add("", "%zz&permission=reports.read")
	f.Fuzz(func(t *testing.T, header, query string) {
		r, err := http.NewRequest(http.MethodGet, "http://access/v1/auth?permission="+query, nil)
		if err != nil {
			return
		}
		r.Header.Set(headerAccountID, "team")
		r.Header.Set(headerPasscode, permCode)
		r.Header[headerRequiredPermission] = []string{header}
		r.RemoteAddr = "192.0.2.1:1"
		got := serve(h, r)
		// What the handler should have made of it.
		want := http.StatusOK
		values, _ := url.ParseQuery(r.URL.RawQuery)
		for _, list := range append([]string{header}, values["permission"]...) {
			for _, p := range strings.Split(list, ",") {
				switch p = strings.TrimSpace(p); {
				case p == "":
				case !roles.Known(p):
					want = http.StatusBadRequest
				case !roles.Has(member, p) && want == http.StatusOK:
					want = http.StatusForbidden
				}
			}
		}
		if got != want {
			t.Fatalf("header %q query %q: %d, want %d", header, query, got, want)
		}
	})
}
