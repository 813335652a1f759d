package scim

import (
	"encoding/json"
	"testing"
)

// FuzzPatchUser: any PATCH body is refused with a SCIM error or gives a user; nothing panics.
func FuzzPatchUser(f *testing.F) {
	for _, seed := range []string{
		`{"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"jane@x.io"}]}`,
		`{"Operations":[{"op":"Add","path":"roles","value":[{"value":"Admin","primary":true}]}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"a\"]"}]}`,
		`{"Operations":[{"op":"add","value":{"name.givenName":"x","urn:ietf:params:scim:schemas:core:2.0:User:displayName":"y"}}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(_ *testing.T, body string) {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil || m == nil {
			return
		}
		ops, err := ParsePatch(m)
		if err != nil {
			return
		}
		_, _ = PatchUser(dashboardUser(), ops)
		group := GroupResource("Admin", nil, "", "")
		_ = groupPatcher.Apply(group, ops)
		_ = CheckGroupEdit("Admin", group)
		_ = MemberIDs(group)
	})
}

// FuzzFilter: any filter is refused with invalidFilter or evaluates; nothing panics.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		`userName eq "a@x.io"`, `emails[type eq "work" and value co "@"]`, `not (active eq true) or externalId pr`,
		`name.formatted sw "J"`, `meta.created gt "2020"`,
	} {
		f.Add(seed)
	}
	res := UserResource(dashboardUser(), "")
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if err.ScimType != TypeInvalidFilter {
				t.Fatalf("%q: %v is not invalidFilter", s, err)
			}
			return
		}
		_, _ = flt.Match(res)
	})
}
