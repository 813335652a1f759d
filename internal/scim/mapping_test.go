package scim

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	return m
}

func TestParseUserCreate(t *testing.T) {
	cases := []struct {
		name string
		body string
		want User
	}{
		{"okta: userName, given and family names, no roles = Member",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Jane.Doe@Example.com",
			  "name":{"givenName":"Jane","familyName":"Doe"},"emails":[{"primary":true,"value":"jane.doe@example.com","type":"work"}],"active":true}`,
			User{Email: "jane.doe@example.com", DisplayName: "Jane Doe", Active: true, Role: "Member"}},
		{"entra: UPN userName that is no address, work email, string active, externalId",
			`{"userName":"jdoe_example.com#EXT#","active":"True","displayName":"Jane D","externalId":"8a1f-22",
			  "emails":[{"type":"work","value":"JDoe@example.com"}],"roles":[{"primary":true,"value":"Admin"}]}`,
			User{Email: "jdoe@example.com", DisplayName: "Jane D", Active: true, Role: "Admin", ExternalID: "8a1f-22"}},
		{"attribute names in any case; name.formatted",
			`{"USERNAME":"a@x.io","Name":{"Formatted":"A X"},"Active":false,"Roles":["Creator"]}`,
			User{Email: "a@x.io", DisplayName: "A X", Active: false, Role: "Creator"}},
		{"roles as a JSON string (Entra)", `{"userName":"a@x.io","roles":"[{\"value\":\"analysts\"}]"}`,
			User{Email: "a@x.io", Active: true, Role: "analysts"}},
		{"several roles, one primary", `{"userName":"a@x.io","roles":[{"value":"Member"},{"value":"Approver","primary":true}]}`,
			User{Email: "a@x.io", Active: true, Role: "Approver"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseUser(obj(t, c.body), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseUserRefuses(t *testing.T) {
	cur := User{Email: "a@x.io", Role: "Member", Active: true}
	cases := []struct {
		name, body, scimType, detail string
		current                      *User
	}{
		{"no userName", `{"displayName":"x"}`, TypeInvalidValue, "userName: required", nil},
		{"not an address", `{"userName":"jdoe"}`, TypeInvalidValue, "userName: \"jdoe\" is not an email address", nil},
		{"a system role misspelt", `{"userName":"a@x.io","roles":[{"value":"admin"}]}`, TypeInvalidValue, "roles: invalid role \"admin\"", nil},
		{"a role name that is no label", `{"userName":"a@x.io","roles":["Team Lead"]}`, TypeInvalidValue, "roles: invalid role", nil},
		{"two roles", `{"userName":"a@x.io","roles":["Admin","Member"]}`, TypeInvalidValue, "roles: a dashboard user has one role", nil},
		{"active not a boolean", `{"userName":"a@x.io","active":"maybe"}`, TypeInvalidValue, "active: must be a boolean", nil},
		{"control characters", `{"userName":"a@x.io","displayName":"a\u001b[31m"}`, TypeInvalidValue, "displayName: must not contain control", nil},
		{"a right-to-left override", `{"userName":"a@x.io","displayName":"jane\u202emoc.elpmaxe"}`, TypeInvalidValue,
			"displayName: must not contain invisible format characters such as U+202E", nil},
		{"a domain label of 64", `{"userName":"a@` + strings.Repeat("b", 64) + `.io"}`, TypeInvalidValue,
			"userName: \"a@" + strings.Repeat("b", 64) + ".io\": each part of the domain between dots must be at most 63 characters", nil},
		{"the email changes", `{"userName":"b@x.io"}`, TypeMutability, "userName: the email of a dashboard user cannot change", &cur},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseUser(obj(t, c.body), c.current, nil)
			if err == nil || err.ScimType != c.scimType || err.Status != 400 || !strings.Contains(err.Detail, c.detail) {
				t.Fatalf("got %+v, want 400 %s %q", err, c.scimType, c.detail)
			}
		})
	}
}

func TestPutKeepsRoleAndActiveLeftOut(t *testing.T) {
	cur := User{Email: "a@x.io", Role: "Admin", Active: false, DisplayName: "Old"}
	got, err := ParseUser(obj(t, `{"userName":"a@x.io","name":{"givenName":"New","familyName":"Name"}}`), &cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (User{Email: "a@x.io", Role: "Admin", Active: false, DisplayName: "New Name"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func dashboardUser() *accessv1alpha1.DashboardUser {
	return &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Name: "jane-1", Namespace: "team", ResourceVersion: "42",
			Labels: map[string]string{accessv1alpha1.ProvisionedByLabel: accessv1alpha1.ProvisionedBySCIM}},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@x.io", DisplayName: "Jane Doe", Role: "Creator", Access: accessv1alpha1.AccessGranted},
	}
}

func TestPatchUserDialects(t *testing.T) {
	base := User{Email: "jane@x.io", DisplayName: "Jane Doe", Role: "Creator", Active: true}
	with := func(f func(*User)) User { u := base; f(&u); return u }
	cases := []struct {
		name, ops string
		want      User
	}{
		{"okta deactivate", `[{"op":"replace","value":{"active":false}}]`, with(func(u *User) { u.Active = false })},
		{"okta profile", `[{"op":"replace","value":{"name":{"givenName":"Janet","familyName":"Doe"}}}]`,
			with(func(u *User) { u.DisplayName = "Janet Doe" })},
		{"entra deactivate", `[{"op":"Replace","path":"active","value":"False"}]`, with(func(u *User) { u.Active = false })},
		{"entra name.formatted", `[{"op":"Replace","path":"name.formatted","value":"J. Doe"}]`, with(func(u *User) { u.DisplayName = "J. Doe" })},
		{"entra displayName and externalId", `[{"op":"Replace","path":"displayName","value":"JD"},{"op":"Add","path":"externalId","value":"e-1"}]`,
			with(func(u *User) { u.DisplayName = "JD"; u.ExternalID = "e-1" })},
		{"entra work email of the same address", `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"jane@x.io"}]`, base},
		{"entra add roles replaces the role", `[{"op":"Add","path":"roles","value":[{"value":"Admin","primary":true}]}]`,
			with(func(u *User) { u.Role = "Admin" })},
		{"remove roles: Member", `[{"op":"Remove","path":"roles","value":[{"value":"Creator"}]}]`, with(func(u *User) { u.Role = "Member" })},
		{"remove roles without a value: Member", `[{"op":"remove","path":"roles"}]`, with(func(u *User) { u.Role = "Member" })},
		{"no-path keys that are paths (Entra)", `[{"op":"Replace","value":{"name.givenName":"Jo","name.familyName":"Doe","active":true}}]`,
			with(func(u *User) { u.DisplayName = "Jo Doe" })},
		{"core schema URN prefix", `[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"Z"}]`,
			with(func(u *User) { u.DisplayName = "Z" })},
		{"enterprise extension ignored",
			`[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"},` +
				`{"op":"Add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}}]`, base},
		{"reactivate", `[{"op":"replace","value":{"active":true}}]`, base},
		{"remove displayName clears the name", `[{"op":"remove","path":"displayName"}]`, with(func(u *User) { u.DisplayName = "" })},
		{"an empty displayName clears the name", `[{"op":"Replace","path":"displayName","value":""}]`, with(func(u *User) { u.DisplayName = "" })},
		{"an empty name.formatted clears the name", `[{"op":"Replace","path":"name.formatted","value":""}]`, with(func(u *User) { u.DisplayName = "" })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ops, err := ParsePatch(obj(t, `{"schemas":["`+SchemaPatchOp+`"],"Operations":`+c.ops+`}`))
			if err != nil {
				t.Fatal(err)
			}
			got, err := PatchUser(dashboardUser(), ops)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestPatchRefuses(t *testing.T) {
	cases := []struct{ name, body, scimType string }{
		{"no operations", `{"Operations":[]}`, TypeInvalidSyntax},
		{"unknown op", `{"Operations":[{"op":"merge","path":"active","value":true}]}`, TypeInvalidSyntax},
		{"remove without path", `{"Operations":[{"op":"remove","value":{"active":true}}]}`, TypeNoTarget},
		{"bad path", `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`, TypeInvalidPath},
		{"no path, no object", `{"Operations":[{"op":"replace","value":false}]}`, TypeInvalidSyntax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParsePatch(obj(t, c.body)); err == nil || err.ScimType != c.scimType {
				t.Fatalf("got %v, want %s", err, c.scimType)
			}
		})
	}
	ops, _ := ParsePatch(obj(t, `{"Operations":[{"op":"replace","path":"userName","value":"other@x.io"}]}`))
	if _, err := PatchUser(dashboardUser(), ops); err == nil || err.ScimType != TypeMutability {
		t.Fatalf("a new userName: got %v, want mutability", err)
	}
}

func TestUserResource(t *testing.T) {
	du := dashboardUser()
	du.Annotations = map[string]string{accessv1alpha1.SCIMExternalIDAnnotation: "ext-9"}
	du.Spec.Access = accessv1alpha1.AccessRevoked
	res := UserResource(du, "https://a.example/scim/v2/team")
	b, _ := json.Marshal(res)
	for _, want := range []string{`"id":"jane-1"`, `"userName":"jane@x.io"`, `"active":false`, `"externalId":"ext-9"`,
		`"version":"W/\"42\""`, `"location":"https://a.example/scim/v2/team/Users/jane-1"`, `"roles":[{"display":"Creator","primary":true,"value":"Creator"}]`,
		`"name":{"formatted":"Jane Doe"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	u := UserOf(du)
	back := &accessv1alpha1.DashboardUser{}
	u.Apply(back)
	if back.Spec.Email != du.Spec.Email || back.Spec.Access != accessv1alpha1.AccessRevoked || back.Annotations[accessv1alpha1.SCIMExternalIDAnnotation] != "ext-9" {
		t.Fatalf("Apply(UserOf(du)) = %+v", back)
	}
}
