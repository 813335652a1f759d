package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
	"github.com/dashboardops/access-operator/internal/users"
)

// groupPatcher patches Group resources.
var groupPatcher = Patcher{Schema: SchemaGroup}

// role is one group: a system role (no version) or a DashboardRole.
type role struct{ name, version string }

// roleList is every role of the account: the system roles, then the DashboardRoles by name.
func (h *Handler) roleList(ctx context.Context, account string) ([]role, *Error) {
	var list accessv1alpha1.DashboardRoleList
	if err := h.Reader.List(ctx, &list, client.InNamespace(account)); err != nil {
		return nil, apiError(err, "DashboardRoles")
	}
	out := make([]role, 0, len(roles.SystemNames)+len(list.Items))
	for _, n := range roles.SystemNames {
		out = append(out, role{name: n})
	}
	custom := make([]role, 0, len(list.Items))
	for _, dr := range list.Items {
		custom = append(custom, role{name: dr.Name, version: dr.ResourceVersion})
	}
	slices.SortFunc(custom, func(a, b role) int { return strings.Compare(a.name, b.name) })
	return append(out, custom...), nil
}

func (h *Handler) roleNamed(ctx context.Context, account, name string) (role, *Error) {
	if roles.IsSystem(name) {
		return role{name: name}, nil
	}
	dr := &accessv1alpha1.DashboardRole{}
	if err := h.Reader.Get(ctx, client.ObjectKey{Namespace: account, Name: name}, dr); err != nil {
		return role{}, apiError(err, fmt.Sprintf("group %q", name))
	}
	return role{name: dr.Name, version: dr.ResourceVersion}, nil
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	all, err := h.roleList(ctx, req.account)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := h.users(ctx, req.account)
	if err != nil {
		writeError(w, err)
		return
	}
	resources := make([]map[string]any, len(all))
	for i, ro := range all {
		resources[i] = GroupResource(ro.name, users.OfRole(list, ro.name), req.base, ro.version)
	}
	resp, err := listResponse(r, resources)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	ro, err := h.roleNamed(ctx, req.account, r.PathValue(attrID))
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := h.users(ctx, req.account)
	if err != nil {
		writeError(w, err)
		return
	}
	writeResource(w, http.StatusOK, project(r, GroupResource(ro.name, users.OfRole(list, ro.name), req.base, ro.version)))
}

// createGroup refuses: groups are the roles, defined as DashboardRoles (in Git). A group named
// after an existing role is a uniqueness conflict, which tells the IdP to link to it.
func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	name := getString(body, attrDisplayName)
	if _, err := h.roleNamed(r.Context(), req.account, name); err == nil {
		writeError(w, errorf(http.StatusConflict, TypeUniqueness,
			"group %q exists: it is the dashboard role %q; link the identity provider's group to it instead of creating one", name, name))
		return
	}
	writeError(w, errorf(http.StatusForbidden, "",
		"groups are the dashboard's roles and cannot be created over SCIM: define a DashboardRole named %q in Git "+
			"(lower-case letters, digits and '-'), then link the group to it", name))
}

func (h *Handler) deleteGroup(w http.ResponseWriter, _ *http.Request, _ *request) {
	writeError(w, errorf(http.StatusForbidden, "",
		"groups are the dashboard's roles and cannot be deleted over SCIM: delete the DashboardRole in Git (system roles always exist)"))
}

// replaceGroup is PUT: the members sent are the role's users; users left out fall back to
// RemovedMemberRole.
func (h *Handler) replaceGroup(w http.ResponseWriter, r *http.Request, req *request) {
	h.updateGroup(w, r, req, func(_ map[string]any, body map[string]any) (map[string]any, *Error) {
		if _, ok := get(body, attrMembers); !ok {
			body[attrMembers] = []any{}
		}
		return body, nil
	}, http.StatusOK)
}

// patchGroup applies PATCH operations to the group; member changes become role changes.
func (h *Handler) patchGroup(w http.ResponseWriter, r *http.Request, req *request) {
	h.updateGroup(w, r, req, func(before map[string]any, body map[string]any) (map[string]any, *Error) {
		patchOps, err := ParsePatch(body)
		if err != nil {
			return nil, err
		}
		after, _ := clone(before).(map[string]any)
		if err := groupPatcher.Apply(after, patchOps); err != nil {
			return nil, err
		}
		return after, nil
	}, http.StatusNoContent)
}

// updateGroup computes the group's members after the request and writes the role of each user
// that joined (the group's role) or left (RemovedMemberRole). Every change is checked first
// (each user exists and is SCIM's to change), so a refused request writes nothing.
func (h *Handler) updateGroup(w http.ResponseWriter, r *http.Request, req *request,
	compute func(before, body map[string]any) (map[string]any, *Error), status int) {
	ctx := r.Context()
	ro, err := h.roleNamed(ctx, req.account, r.PathValue(attrID))
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := checkIfMatch(r, ro.version); err != nil && ro.version != "" {
		writeError(w, err)
		return
	}
	list, err := h.liveUsers(ctx, req.account) // members as they are now: see Handler.Live
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	before := GroupResource(ro.name, users.OfRole(list, ro.name), req.base, ro.version)
	after, err := compute(before, body)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := CheckGroupEdit(ro.name, after); err != nil {
		writeError(w, err)
		return
	}
	changes, err := planMembers(list, ro.name, MemberIDs(before), MemberIDs(after))
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range changes {
		if err := h.writeMember(ctx, &changes[i]); err != nil {
			writeError(w, err)
			return
		}
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	for _, c := range changes { // the cache may not have seen the writes yet
		for i := range list {
			if list[i].Name == c.user.Name {
				list[i] = *c.user
			}
		}
	}
	writeResource(w, status, project(r, GroupResource(ro.name, users.OfRole(list, ro.name), req.base, ro.version)))
}

// memberChange is one user's new role. leaving is the group a removed member leaves ("" for one
// that joins).
type memberChange struct {
	user    *accessv1alpha1.DashboardUser
	role    string
	leaving string
}

// writeMember writes one member change, touching spec.role alone: a group edit must never put back
// another field (a deactivation made meanwhile). A member joins unconditionally. A member leaves
// only if it still holds the group's role at the API server (a JSON patch test): it may have joined
// another group since the members were read, and leaving this one must not undo that.
func (h *Handler) writeMember(ctx context.Context, c *memberChange) *Error {
	ops := []map[string]any{{"op": "replace", "path": "/spec/role", attrValue: c.role}}
	if c.leaving != "" {
		ops = append([]map[string]any{{"op": "test", "path": "/spec/role", attrValue: c.leaving}}, ops...)
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "encoding the patch: %v", err)
	}
	if err := h.Writer.Patch(ctx, c.user, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		if c.leaving != "" && apierrors.IsInvalid(err) {
			return nil // the test failed: the user holds another role by now
		}
		return apiError(err, describe(c.user))
	}
	log.FromContext(ctx).Info("SCIM updated DashboardUser", "namespace", c.user.Namespace, "name", c.user.Name, "role", c.user.Spec.Role)
	return nil
}

// planMembers turns a group's member changes into role changes, refusing unknown users and users
// SCIM may not change. A removed user whose role is no longer this group keeps it.
func planMembers(list []accessv1alpha1.DashboardUser, group string, before, after []string) ([]memberChange, *Error) {
	added, removed := MemberChanges(before, after)
	byID := map[string]*accessv1alpha1.DashboardUser{}
	for i := range list {
		byID[list[i].Name] = &list[i]
	}
	var out []memberChange
	for _, id := range added {
		du := byID[id]
		if du == nil {
			return nil, badRequest(TypeInvalidValue, "members: no user with id %q in this account", id)
		}
		out = append(out, memberChange{user: du, role: group})
	}
	for _, id := range removed {
		if du := byID[id]; du != nil && string(du.Spec.Role) == group && group != RemovedMemberRole {
			out = append(out, memberChange{user: du, role: RemovedMemberRole, leaving: group})
		}
	}
	for _, c := range out {
		if !Writable(c.user) {
			return nil, notWritable(c.user)
		}
	}
	return out, nil
}
