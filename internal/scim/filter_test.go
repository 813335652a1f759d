package scim

import (
	"slices"
	"strings"
	"testing"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func TestFilter(t *testing.T) {
	du := dashboardUser()
	du.Annotations = map[string]string{accessv1alpha1.SCIMExternalIDAnnotation: "AbC-1"}
	res := UserResource(du, "")
	cases := []struct {
		filter string
		want   bool
	}{
		{`userName eq "jane@x.io"`, true},
		{`userName eq "JANE@X.IO"`, true}, // userName is not caseExact
		{`userName eq "john@x.io"`, false},
		{`externalId eq "AbC-1"`, true},
		{`externalId eq "abc-1"`, false}, // externalId is caseExact
		{`emails[value eq "jane@x.io"]`, true},
		{`emails[type eq "work" and value eq "jane@x.io"]`, true},
		{`emails[type eq "home"]`, false},
		{`emails.value eq "jane@x.io"`, true},
		{`emails eq "jane@x.io"`, true},
		{`displayName eq "jane doe"`, true},
		{`name.formatted sw "Jane"`, true},
		{`userName eq "jane@x.io" and active eq true`, true},
		{`userName eq "john@x.io" or displayName co "Doe"`, true},
		{`userName eq "john@x.io" or (displayName co "Nobody" and active eq true)`, false},
		{`not (userName eq "jane@x.io")`, false},
		{`externalId pr`, true},
		{`title pr`, false},
		{`title ne "x"`, true},
		{`roles.value eq "Creator"`, true},
		{`active eq "true"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jane@x.io"`, true},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			f, err := ParseFilter(c.filter)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(res)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestFilterRefuses(t *testing.T) {
	for _, f := range []string{`userName eq`, `userName xx "a"`, `meta.created gt "2020-01-01T00:00:00Z"`, `(userName eq "a"`} {
		if _, err := ParseFilter(f); err == nil || err.ScimType != TypeInvalidFilter || err.Status != 400 {
			t.Errorf("%s: got %v, want 400 invalidFilter", f, err)
		}
	}
}

func TestGroupPatch(t *testing.T) {
	members := []accessv1alpha1.DashboardUser{*dashboardUser()}
	members[0].Spec.Role = "Admin"
	before := GroupResource("Admin", members, "", "")
	cases := []struct {
		name, ops      string
		added, removed []string
	}{
		{"okta add", `[{"op":"add","path":"members","value":[{"value":"bob-2","display":"bob@x.io"}]}]`, []string{"bob-2"}, nil},
		{"entra add, capitalised", `[{"op":"Add","path":"members","value":[{"value":"bob-2"}]}]`, []string{"bob-2"}, nil},
		{"okta remove by filter", `[{"op":"remove","path":"members[value eq \"jane-1\"]"}]`, nil, []string{"jane-1"}},
		{"entra remove by value", `[{"op":"Remove","path":"members","value":[{"value":"jane-1"}]}]`, nil, []string{"jane-1"}},
		{"replace members", `[{"op":"replace","path":"members","value":[{"value":"bob-2"}]}]`, []string{"bob-2"}, []string{"jane-1"}},
		{"okta no-path replace with the same name", `[{"op":"replace","value":{"id":"Admin","displayName":"Admin"}}]`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ops, err := ParsePatch(obj(t, `{"Operations":`+c.ops+`}`))
			if err != nil {
				t.Fatal(err)
			}
			after, _ := clone(before).(map[string]any)
			if err := groupPatcher.Apply(after, ops); err != nil {
				t.Fatal(err)
			}
			if err := CheckGroupEdit("Admin", after); err != nil {
				t.Fatal(err)
			}
			added, removed := MemberChanges(MemberIDs(before), MemberIDs(after))
			if !slices.Equal(added, c.added) || !slices.Equal(removed, c.removed) {
				t.Fatalf("added %v removed %v, want %v %v", added, removed, c.added, c.removed)
			}
		})
	}
	ops, _ := ParsePatch(obj(t, `{"Operations":[{"op":"replace","path":"displayName","value":"Owners"}]}`))
	after, _ := clone(before).(map[string]any)
	_ = groupPatcher.Apply(after, ops)
	if err := CheckGroupEdit("Admin", after); err == nil || err.ScimType != TypeMutability {
		t.Fatalf("a rename: got %v, want mutability", err)
	}
}

func TestPlanMembers(t *testing.T) {
	jane := *dashboardUser() // SCIM's, role Creator
	git := *dashboardUser()
	git.Name, git.Labels, git.Spec.Role = "git-1", nil, "Creator"
	optIn := git
	optIn.Name, optIn.Annotations = "git-2", map[string]string{accessv1alpha1.SCIMManagedAnnotation: "true"}
	users := []accessv1alpha1.DashboardUser{jane, git, optIn}

	changes, err := planMembers(users, "Admin", nil, []string{"jane-1", "git-2"})
	if err != nil || len(changes) != 2 || changes[0].role != "Admin" || changes[1].user.Name != "git-2" {
		t.Fatalf("adding: %v %+v", err, changes)
	}
	if _, err := planMembers(users, "Admin", nil, []string{"git-1"}); err == nil || err.Status != 403 ||
		!strings.Contains(err.Detail, accessv1alpha1.SCIMManagedAnnotation) {
		t.Fatalf("a Git-kept user: got %v, want 403 naming the annotation", err)
	}
	if _, err := planMembers(users, "Admin", nil, []string{"nobody"}); err == nil || err.ScimType != TypeInvalidValue {
		t.Fatalf("an unknown user: got %v", err)
	}
	changes, err = planMembers(users, "Creator", []string{"jane-1"}, nil)
	if err != nil || len(changes) != 1 || changes[0].role != RemovedMemberRole {
		t.Fatalf("removing falls back to %s: %v %+v", RemovedMemberRole, err, changes)
	}
	if changes, _ := planMembers(users, "Admin", []string{"jane-1"}, nil); len(changes) != 0 {
		t.Fatalf("removing a user whose role is another group changes nothing: %+v", changes)
	}
}
