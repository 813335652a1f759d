package scim

import (
	"slices"
	"strings"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// RemovedMemberRole is the role a user falls back to when removed from the group of its role:
// the least a system role grants. Access is not revoked by it: deactivating a user (active=false)
// is the identity provider's way to do that, and a person moved between groups is removed from
// one before being added to the other.
const RemovedMemberRole = DefaultRole

// GroupResource is the SCIM Group of a role: its members are the users holding the role. version
// is the DashboardRole's resourceVersion ("" for a system role, which has none).
func GroupResource(role string, members []accessv1alpha1.DashboardUser, base, version string) map[string]any {
	list := make([]any, 0, len(members))
	for i := range members {
		list = append(list, map[string]any{
			attrValue:   members[i].Name,
			attrDisplay: members[i].Spec.Email,
			"$ref":      base + "/Users/" + members[i].Name,
			attrType:    resourceUser,
		})
	}
	return map[string]any{
		attrSchemas:     []any{SchemaGroup},
		attrID:          role,
		attrDisplayName: role,
		attrMembers:     list,
		attrMeta:        meta(resourceGroup, base+"/Groups/"+role, timeZero, version),
	}
}

// MemberIDs are the ids of a Group resource's members, sorted and deduplicated.
func MemberIDs(group map[string]any) []string {
	list, _ := getList(group, attrMembers)
	var ids []string
	for _, m := range list {
		if id := strings.TrimSpace(valueOf(m)); id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// MemberChanges are the members after has that before has not (added) and the other way round
// (removed).
func MemberChanges(before, after []string) (added, removed []string) {
	for _, id := range after {
		if !slices.Contains(before, id) {
			added = append(added, id)
		}
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			removed = append(removed, id)
		}
	}
	return added, removed
}

// CheckGroupEdit refuses what a client may not change on a group: its name, which is the role's.
func CheckGroupEdit(role string, after map[string]any) *Error {
	if name, ok := get(after, attrDisplayName); ok && name != role {
		return badRequest(TypeMutability, "displayName: group %q is the dashboard role %q and cannot be renamed (roles are DashboardRoles, kept in Git)", role, role)
	}
	if id, ok := get(after, attrID); ok && id != role {
		return badRequest(TypeMutability, "id: group %q cannot change its id", role)
	}
	return nil
}
