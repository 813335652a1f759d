package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/users"
)

// userPatcher patches User resources: a user holds one role, so adding roles replaces it.
var userPatcher = Patcher{Schema: SchemaUser, Single: map[string]bool{attrRoles: true}}

// Writable reports whether SCIM may change du: it created it, or du opts in with
// SCIMManagedAnnotation. A user kept in Git is otherwise only read, so that the identity provider
// and the GitOps tool never undo each other's edits.
func Writable(du *accessv1alpha1.DashboardUser) bool {
	return du.Labels[accessv1alpha1.ProvisionedByLabel] == accessv1alpha1.ProvisionedBySCIM ||
		du.Annotations[accessv1alpha1.SCIMManagedAnnotation] == trueString
}

func notWritable(du *accessv1alpha1.DashboardUser) *Error {
	return errorf(http.StatusForbidden, "",
		"%s was not created over SCIM (it is kept elsewhere, e.g. in Git), so SCIM does not change it; "+
			"to let the identity provider manage it, annotate it %s=\"true\"",
		describe(du), accessv1alpha1.SCIMManagedAnnotation)
}

func (h *Handler) users(ctx context.Context, account string) ([]accessv1alpha1.DashboardUser, *Error) {
	return listUsers(ctx, h.Reader, account)
}

// liveUsers is users read from the API server, for a write that depends on them.
func (h *Handler) liveUsers(ctx context.Context, account string) ([]accessv1alpha1.DashboardUser, *Error) {
	return listUsers(ctx, h.Live, account)
}

func listUsers(ctx context.Context, from client.Reader, account string) ([]accessv1alpha1.DashboardUser, *Error) {
	var list accessv1alpha1.DashboardUserList
	if err := from.List(ctx, &list, client.InNamespace(account)); err != nil {
		return nil, apiError(err, "DashboardUsers")
	}
	slices.SortFunc(list.Items, func(a, b accessv1alpha1.DashboardUser) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

func (h *Handler) user(ctx context.Context, from client.Reader, account, id string) (*accessv1alpha1.DashboardUser, *Error) {
	du := &accessv1alpha1.DashboardUser{}
	if err := from.Get(ctx, client.ObjectKey{Namespace: account, Name: id}, du); err != nil {
		return nil, apiError(err, fmt.Sprintf("user %q", id))
	}
	return du, nil
}

// current reads the user a write names from the API server and checks If-Match (reporting
// whether it was given): a version other than the live one is 412.
func (h *Handler) current(ctx context.Context, r *http.Request, account string) (*accessv1alpha1.DashboardUser, bool, *Error) {
	du, err := h.user(ctx, h.Live, account, r.PathValue(attrID))
	if err != nil {
		return nil, false, err
	}
	conditional, mismatch := checkIfMatch(r, du.ResourceVersion)
	return du, conditional, mismatch
}

// checkRole refuses a role that names no system role and no DashboardRole of the account: an
// identity provider's typo would otherwise leave the user with no permissions.
func (h *Handler) checkRole(ctx context.Context, account, role string) *Error {
	err := users.RoleExists(ctx, func(ctx context.Context, key types.NamespacedName) error {
		return h.Reader.Get(ctx, key, &accessv1alpha1.DashboardRole{})
	}, account, role)
	var missing *users.MissingRoleError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &missing):
		return badRequest(TypeInvalidValue, "roles: %v", missing)
	}
	return apiError(err, "DashboardRole "+role)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, req *request) {
	list, err := h.users(r.Context(), req.account)
	if err != nil {
		writeError(w, err)
		return
	}
	all := make([]map[string]any, len(list))
	for i := range list {
		all[i] = UserResource(&list[i], req.base)
	}
	resp, err := listResponse(r, all)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, req *request) {
	du, err := h.user(r.Context(), h.Reader, req.account, r.PathValue(attrID))
	if err != nil {
		writeError(w, err)
		return
	}
	writeResource(w, http.StatusOK, project(r, UserResource(du, req.base)))
}

// createUser makes a DashboardUser named after the email (users.ObjectNameForEmail), labelled as
// SCIM's. The controller invites it like any other user.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	u, err := ParseUser(body, nil, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.checkRole(ctx, req.account, u.Role); err != nil {
		writeError(w, err)
		return
	}
	existing, err := h.liveUsers(ctx, req.account) // a user created a moment ago is a conflict too
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range existing {
		if existing[i].Spec.Email == u.Email {
			e := errorf(http.StatusConflict, TypeUniqueness, "userName: %s already exists", describe(&existing[i]))
			if !Writable(&existing[i]) {
				e.Detail += fmt.Sprintf("; it was not created over SCIM, so SCIM only reads it unless it is annotated %s=\"true\"", accessv1alpha1.SCIMManagedAnnotation)
			}
			writeError(w, e)
			return
		}
	}
	du := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{
		Namespace: req.account,
		Name:      users.ObjectNameForEmail(u.Email),
		Labels:    map[string]string{accessv1alpha1.ProvisionedByLabel: accessv1alpha1.ProvisionedBySCIM},
	}}
	u.Apply(du)
	if err := h.Writer.Create(ctx, du); err != nil {
		writeError(w, apiError(err, "user "+u.Email))
		return
	}
	log.FromContext(ctx).Info("SCIM created DashboardUser", "namespace", du.Namespace, attrName, du.Name, "role", du.Spec.Role)
	writeResource(w, http.StatusCreated, UserResource(du, req.base))
}

// replaceUser is PUT: the attributes sent replace the user's (roles and active left out are kept).
func (h *Handler) replaceUser(w http.ResponseWriter, r *http.Request, req *request) {
	h.updateUser(w, r, req, func(du *accessv1alpha1.DashboardUser, body map[string]any) (User, *Error) {
		cur := UserOf(du)
		return ParseUser(body, &cur, nil)
	})
}

// patchUser applies PATCH operations to the user's SCIM resource, then reads the user back from it
// the way PUT does.
func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request, req *request) {
	h.updateUser(w, r, req, func(du *accessv1alpha1.DashboardUser, body map[string]any) (User, *Error) {
		patchOps, err := ParsePatch(body)
		if err != nil {
			return User{}, err
		}
		return PatchUser(du, patchOps)
	})
}

// PatchUser is the user du becomes after ops.
func PatchUser(du *accessv1alpha1.DashboardUser, patchOps []Operation) (User, *Error) {
	before := UserResource(du, "")
	after, _ := clone(before).(map[string]any)
	if err := userPatcher.Apply(after, patchOps); err != nil {
		return User{}, err
	}
	if _, ok := get(after, attrRoles); !ok {
		after[attrRoles] = []any{} // roles removed: the user falls back to DefaultRole
	}
	cur := UserOf(du)
	return ParseUser(after, &cur, before)
}

// updateUser is PUT and PATCH: read, check If-Match and ownership, compute, merge-patch the spec.
func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, req *request,
	compute func(*accessv1alpha1.DashboardUser, map[string]any) (User, *Error)) {
	ctx := r.Context()
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	for attempt := 1; ; attempt++ {
		du, conditional, err := h.current(ctx, r, req.account)
		if err != nil {
			writeError(w, err)
			return
		}
		if !Writable(du) {
			writeError(w, notWritable(du))
			return
		}
		u, err := compute(du, body)
		if err != nil {
			writeError(w, err)
			return
		}
		if u.Role != string(du.Spec.Role) {
			if err := h.checkRole(ctx, req.account, u.Role); err != nil {
				writeError(w, err)
				return
			}
		}
		err = h.writeUser(ctx, du, u)
		if err != nil && err.Status == http.StatusPreconditionFailed && !conditional && attempt < maxWriteAttempts {
			continue // changed since it was read (another request, the plugin): compute again from the new version
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeResource(w, http.StatusOK, project(r, UserResource(du, req.base)))
		return
	}
}

// maxWriteAttempts bounds how often a write is computed again after the user changed under it.
const maxWriteAttempts = 5

// writeUser merge-patches u onto du (du then holds what the API server returned). The patch sets
// every field SCIM owns and carries the resourceVersion du was read at, so a write computed from a
// version another writer has replaced since (a deactivation in a concurrent request) fails with a
// conflict instead of putting that writer's fields back: 412 to a client that sent If-Match, and
// otherwise computed again (updateUser).
func (h *Handler) writeUser(ctx context.Context, du *accessv1alpha1.DashboardUser, u User) *Error {
	orig := du.DeepCopy()
	patch, err := userPatch(du, u)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "encoding the patch: %v", err)
	}
	if err := h.Writer.Patch(ctx, du, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return apiError(err, describe(orig))
	}
	if orig.Spec != du.Spec {
		log.FromContext(ctx).Info("SCIM updated DashboardUser", "namespace", du.Namespace, attrName, du.Name,
			"role", du.Spec.Role, "access", du.Spec.Access)
	}
	return nil
}

// userPatch is the JSON merge patch that makes du's SCIM fields u's (null removes a field).
func userPatch(du *accessv1alpha1.DashboardUser, u User) ([]byte, error) {
	want := du.DeepCopy()
	u.Apply(want)
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	metadata := map[string]any{"annotations": map[string]any{accessv1alpha1.SCIMExternalIDAnnotation: nullable(u.ExternalID)},
		"resourceVersion": du.ResourceVersion}
	return json.Marshal(map[string]any{
		"metadata": metadata,
		"spec": map[string]any{
			attrDisplayName: nullable(want.Spec.DisplayName),
			"role":          want.Spec.Role,
			"access":        want.Spec.Access,
		},
	})
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	du, conditional, err := h.current(ctx, r, req.account)
	if err != nil {
		writeError(w, err)
		return
	}
	if !Writable(du) {
		writeError(w, notWritable(du))
		return
	}
	pre := metav1.Preconditions{UID: &du.UID}
	if conditional {
		pre.ResourceVersion = &du.ResourceVersion
	}
	if err := h.Writer.Delete(ctx, du, client.Preconditions(pre)); err != nil {
		writeError(w, apiError(err, describe(du)))
		return
	}
	log.FromContext(ctx).Info("SCIM deleted DashboardUser", "namespace", du.Namespace, attrName, du.Name)
	w.WriteHeader(http.StatusNoContent)
}
