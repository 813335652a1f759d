package scim

import (
	"fmt"
	"strings"
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
	"github.com/dashboardops/access-operator/internal/users"
)

// DefaultRole is the role of a user created over SCIM without roles: the least a system role
// grants (reports and dashboards read, nothing written), until a pushed group says otherwise.
const DefaultRole = roles.Member

// Limits of what SCIM may write, the CRD's where it has one.
const (
	maxDisplayName = 128
	maxExternalID  = 1024
)

// User is what SCIM sets on a DashboardUser.
type User struct {
	Email       string
	DisplayName string
	Active      bool
	Role        string
	ExternalID  string
}

// UserOf reads the SCIM view of a DashboardUser.
func UserOf(du *accessv1alpha1.DashboardUser) User {
	return User{
		Email:       du.Spec.Email,
		DisplayName: du.Spec.DisplayName,
		Active:      du.Spec.Access != accessv1alpha1.AccessRevoked,
		Role:        string(du.Spec.Role),
		ExternalID:  du.Annotations[accessv1alpha1.SCIMExternalIDAnnotation],
	}
}

// Apply writes u onto du's spec and annotations (email only when du is new: it is immutable).
func (u User) Apply(du *accessv1alpha1.DashboardUser) {
	if du.Spec.Email == "" {
		du.Spec.Email = u.Email
	}
	du.Spec.DisplayName = u.DisplayName
	du.Spec.Role = accessv1alpha1.Role(u.Role)
	du.Spec.Access = accessv1alpha1.AccessGranted
	if !u.Active {
		du.Spec.Access = accessv1alpha1.AccessRevoked
	}
	if u.ExternalID == "" {
		delete(du.Annotations, accessv1alpha1.SCIMExternalIDAnnotation)
		return
	}
	if du.Annotations == nil {
		du.Annotations = map[string]string{}
	}
	du.Annotations[accessv1alpha1.SCIMExternalIDAnnotation] = u.ExternalID
}

// Version is a resource version as SCIM's meta.version and the ETag header carry it.
func Version(resourceVersion string) string { return `W/"` + resourceVersion + `"` }

// UserResource is the SCIM User of du; base is the account's SCIM URL (for meta.location).
func UserResource(du *accessv1alpha1.DashboardUser, base string) map[string]any {
	u := UserOf(du)
	res := map[string]any{
		attrSchemas:     []any{SchemaUser},
		attrID:          du.Name,
		attrUserName:    u.Email,
		attrDisplayName: u.DisplayName,
		attrName:        map[string]any{"formatted": u.DisplayName},
		attrEmails:      []any{map[string]any{attrValue: u.Email, attrType: "work", attrPrimary: true}},
		attrActive:      u.Active,
		attrRoles:       []any{map[string]any{attrValue: u.Role, attrDisplay: u.Role, attrPrimary: true}},
		"groups":        []any{map[string]any{attrValue: u.Role, attrDisplay: u.Role, "$ref": base + "/Groups/" + u.Role}},
		attrMeta:        meta(resourceUser, base+"/Users/"+du.Name, du.CreationTimestamp.Time, du.ResourceVersion),
	}
	if u.DisplayName == "" {
		delete(res, attrDisplayName)
		delete(res, attrName)
	}
	if u.ExternalID != "" {
		res[attrExternalID] = u.ExternalID
	}
	return res
}

// timeZero is the creation time of what has none (a system role's group).
var timeZero time.Time

func meta(resourceType, location string, created time.Time, resourceVersion string) map[string]any {
	m := map[string]any{attrResourceType: resourceType, attrLocation: location}
	if !created.IsZero() {
		m["created"] = created.UTC().Format(time.RFC3339)
	}
	if resourceVersion != "" {
		m["version"] = Version(resourceVersion)
	}
	return m
}

// ParseUser reads the User a client sent (POST, PUT, or a resource after PATCH). current is the
// user as it is (nil on create); before is the resource the PATCH started from (nil for POST and
// PUT), which tells which of the three display name attributes the client changed.
//
// An attribute the client leaves out keeps its value for roles and active (IdPs that push groups
// send PUTs without roles, and a profile update must not undo a group push); a new user without
// them is active with DefaultRole.
func ParseUser(res map[string]any, current *User, before map[string]any) (User, *Error) {
	var u User
	if current != nil {
		u = *current
	} else {
		u = User{Active: true, Role: DefaultRole}
	}
	email, err := emailOf(res)
	if err != nil {
		return User{}, err
	}
	if current != nil && email != current.Email {
		return User{}, badRequest(TypeMutability,
			"userName: the email of a dashboard user cannot change (it is %q); delete the user and create one for %q", current.Email, email)
	}
	u.Email = email
	if u.DisplayName, err = displayNameOf(res, before); err != nil {
		return User{}, err
	}
	if v, ok := get(res, attrActive); ok && v != nil {
		if u.Active, err = parseBool(attrActive, v); err != nil {
			return User{}, err
		}
	}
	if list, ok := getList(res, attrRoles); ok {
		if u.Role, err = roleOf(list); err != nil {
			return User{}, err
		}
	}
	u.ExternalID = getString(res, attrExternalID)
	if len(u.ExternalID) > maxExternalID {
		return User{}, badRequest(TypeInvalidValue, "externalId: must be at most %d characters", maxExternalID)
	}
	return u, nil
}

// emailOf is the user's email: userName when it is an address (Okta's default), else the primary
// (or work) address of emails (Entra ID's userName is a UPN, which may not be one). Lower-cased:
// the dashboard has one user per address.
func emailOf(res map[string]any) (string, *Error) {
	userName := strings.TrimSpace(getString(res, attrUserName))
	e := strings.ToLower(userName)
	invalid := users.ValidateEmail(e)
	if invalid == nil {
		return e, nil
	}
	if e := strings.ToLower(strings.TrimSpace(primaryEmail(res))); e != "" && users.ValidateEmail(e) == nil {
		return e, nil
	}
	if userName == "" {
		return "", badRequest(TypeInvalidValue, "userName: required, the user's email address")
	}
	if strings.Contains(userName, "@") {
		// An address the dashboard refuses: say why (users.ValidateEmail names the rule).
		return "", badRequest(TypeInvalidValue, "userName: %s; emails holds no valid address either", strings.TrimPrefix(invalid.Error(), "invalid email "))
	}
	return "", badRequest(TypeInvalidValue, "userName: %q is not an email address and emails holds none: a dashboard user is named by email", userName)
}

// primaryEmail is the primary value of emails, else the work one, else the first.
func primaryEmail(res map[string]any) string {
	list, _ := getList(res, attrEmails)
	var work, first string
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			continue
		}
		v := getString(o, attrValue)
		if v == "" {
			continue
		}
		if p, _ := get(o, attrPrimary); p == true || p == trueString || p == "True" {
			return v
		}
		if work == "" && strings.EqualFold(getString(o, attrType), "work") {
			work = v
		}
		if first == "" {
			first = v
		}
	}
	if work != "" {
		return work
	}
	return first
}

// displayNameOf is displayName, else name.formatted, else name.givenName and name.familyName
// (Okta sends only those). After a PATCH the attribute the client set wins, since the resource
// still holds the old value in the others; one the client cleared (remove, or "") clears the name.
func displayNameOf(res, before map[string]any) (string, *Error) {
	candidates := []string{getString(res, attrDisplayName), getString(getObject(res, attrName), "formatted"), givenFamily(res)}
	name := ""
	if before != nil {
		was := []string{getString(before, attrDisplayName), getString(getObject(before, attrName), "formatted"), givenFamily(before)}
		cleared := false
		for i, c := range candidates {
			if c != was[i] && c != "" {
				name = c
				break
			}
			cleared = cleared || (c == "" && was[i] != "")
		}
		if name == "" && (cleared || candidates[0] == "" && candidates[1] == "" && candidates[2] == "") {
			return "", nil
		}
	}
	if name == "" {
		for _, c := range candidates {
			if c != "" {
				name = c
				break
			}
		}
	}
	name = strings.TrimSpace(name)
	if len(name) > maxDisplayName {
		return "", badRequest(TypeInvalidValue, "displayName: must be at most %d characters (it has %d)", maxDisplayName, len(name))
	}
	if p := users.HiddenProblem(name); p != "" {
		return "", badRequest(TypeInvalidValue, "displayName: %s", p)
	}
	return name, nil
}

func givenFamily(res map[string]any) string {
	n := getObject(res, attrName)
	return strings.TrimSpace(getString(n, "givenName") + " " + getString(n, "familyName"))
}

// parseBool reads a boolean, also as the strings "true" and "false" in any case: Entra ID sends
// "False".
func parseBool(attr string, v any) (bool, *Error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case trueString:
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, badRequest(TypeInvalidValue, "%s: must be a boolean (true or false), got %v", attr, v)
}

// roleOf reads roles: a dashboard user has one role, so the list holds one value (or several,
// one of them primary). An empty list means no role given: DefaultRole.
func roleOf(list []any) (string, *Error) {
	var values, primaries []string
	for _, e := range list {
		var v string
		primary := false
		switch t := e.(type) {
		case string:
			v = t
		case map[string]any:
			v = getString(t, attrValue)
			if p, ok := get(t, attrPrimary); ok {
				primary, _ = parseBool("roles.primary", p)
			}
		default:
			return "", badRequest(TypeInvalidValue, "roles: each value must be a string or {\"value\": ...}, got %v", e)
		}
		if v == "" {
			continue
		}
		values = append(values, v)
		if primary {
			primaries = append(primaries, v)
		}
	}
	role := ""
	switch {
	case len(values) == 0:
		return DefaultRole, nil
	case len(primaries) == 1:
		role = primaries[0]
	case allSame(values):
		role = values[0]
	default:
		return "", badRequest(TypeInvalidValue, "roles: a dashboard user has one role, got %d (%s); mark one primary", len(values), strings.Join(values, ", "))
	}
	if err := roles.CheckName(role); err != nil {
		return "", badRequest(TypeInvalidValue, "roles: %v", err)
	}
	return role, nil
}

func allSame(s []string) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

// describe names a user in messages by email, never by anything secret.
func describe(du *accessv1alpha1.DashboardUser) string {
	return fmt.Sprintf("%s (DashboardUser %s)", du.Spec.Email, du.Name)
}
