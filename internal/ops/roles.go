package ops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
	"github.com/dashboardops/access-operator/internal/users"
)

// The limits of a DashboardRole (api/v1alpha1), checked here too so that a bad call writes nothing.
const (
	maxRoleDescription = 256
	// MaxUsersNamed is how many users a refusal to delete a role in use names before "and N more".
	MaxUsersNamed = 5
)

// roleNamePattern is the CRD's rule for a DashboardRole's name (a DNS-1123 label, no dots).
var roleNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// SystemRoleDescriptions say what each system role is for, where a DashboardRole has spec.description.
var SystemRoleDescriptions = map[string]string{
	roles.Admin:    "every permission",
	roles.Creator:  "builds reports, dashboards, segments and campaigns",
	roles.Member:   "reads, does not write",
	roles.Approver: "reads, and approves campaigns",
}

// ValidateRoleName applies the CRD's rules for a DashboardRole's name: a DNS-1123 label of at
// most 63 characters that is no system role's name in any case (spec.role could not tell them apart).
func ValidateRoleName(name string) error {
	if s, ok := roles.SystemSpelling(name); ok {
		return fmt.Errorf("invalid role name %q: the system role %s is built in; a DashboardRole may not take its name in any case", name, s)
	}
	if len(name) > users.MaxObjectName {
		return fmt.Errorf("invalid role name %q: must be at most %d characters (it has %d)", name, users.MaxObjectName, len(name))
	}
	if !roleNamePattern.MatchString(name) {
		msg := fmt.Sprintf("invalid role name %q: must be lower-case letters, digits and '-', starting and ending with a letter or digit", name)
		if lower := strings.ToLower(name); lower != name && roleNamePattern.MatchString(lower) {
			msg += fmt.Sprintf(" (did you mean %q?)", lower)
		}
		return errors.New(msg)
	}
	return nil
}

// ValidateRoleDescription applies the CRD's rules for spec.description.
func ValidateRoleDescription(s string) error {
	if len(s) > maxRoleDescription {
		return fmt.Errorf("must be at most %d characters (it has %d)", maxRoleDescription, len(s))
	}
	if p := users.HiddenProblem(s); p != "" {
		return errors.New(p)
	}
	return nil
}

// ParsePermissions reads permission values (each may be a comma-separated list), checks every name
// against the vocabulary and returns them deduplicated, in vocabulary order. The error names every
// bad value, with a suggestion where one is close, and lists the allowed names.
func ParsePermissions(values []string) ([]roles.Permission, error) {
	var names, bad []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !roles.Known(p) {
				msg := fmt.Sprintf("%q", p)
				if s := suggestPermission(p); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				bad = append(bad, msg)
				continue
			}
			names = append(names, p)
		}
	}
	allowed := strings.Join(roles.KnownNames(), ", ")
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown permission %s: must be one of %s", strings.Join(bad, ", "), allowed)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no permission given: name at least one of %s", allowed)
	}
	return roles.Normalize(names), nil
}

// suggestPermission is the vocabulary name p most likely means: the same in another case or with
// another separator (Reports.Read, reports:read), else one at most two edits away (report.read).
func suggestPermission(p string) string {
	folded := strings.Map(func(r rune) rune {
		if r == ':' || r == '-' || r == '_' || r == '/' || r == ' ' {
			return '.'
		}
		return unicode.ToLower(r)
	}, p)
	best, bestDist := "", 3
	for _, name := range roles.KnownNames() {
		if folded == name {
			return name
		}
		if d := editDistance(folded, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes: permission names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ForbiddenError is an RBAC refusal, said the plugin's way: what the caller may not do, where.
// It unwraps to the API server's error, so apierrors.IsForbidden still sees it.
type ForbiddenError struct {
	Verb, Resource, Namespace string
	Err                       error
}

func (e *ForbiddenError) Error() string {
	where := ""
	if e.Namespace != "" {
		where = fmt.Sprintf(" in project (namespace) %q", e.Namespace)
	}
	return fmt.Sprintf("not allowed to %s %s%s (ask for RBAC access to %s): %v", e.Verb, e.Resource, where, e.Resource, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// rolesAPIError wraps err from the API server about DashboardRoles: a Forbidden becomes a
// ForbiddenError naming verb and resource, anything else says what was being done.
func rolesAPIError(err error, verb, ns, doing string) error {
	if apierrors.IsForbidden(err) {
		return &ForbiddenError{Verb: verb, Resource: resourceRoles, Namespace: ns, Err: err}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

const (
	resourceRoles = "dashboardroles"
)

// ListRoles reads the DashboardRoles matching opts (ns is for messages only), sorted by namespace,
// then name.
func ListRoles(ctx context.Context, c client.Client, ns string, opts ...client.ListOption) ([]accessv1alpha1.DashboardRole, error) {
	var list accessv1alpha1.DashboardRoleList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, rolesAPIError(err, "list", ns, "listing roles")
	}
	sortByNamespaceName(list.Items)
	return list.Items, nil
}

// SystemRoleObjects are the system roles shaped as DashboardRoles in ns (never stored: the table
// shows them beside the custom ones), with their permissions and description.
func SystemRoleObjects(ns string) []accessv1alpha1.DashboardRole {
	out := make([]accessv1alpha1.DashboardRole, 0, len(roles.SystemNames))
	for _, name := range roles.SystemNames {
		perms, _ := roles.System(name)
		r := accessv1alpha1.DashboardRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardRole"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       accessv1alpha1.DashboardRoleSpec{Description: SystemRoleDescriptions[name]},
		}
		for _, p := range perms {
			r.Spec.Permissions = append(r.Spec.Permissions, accessv1alpha1.Permission(p))
		}
		out = append(out, r)
	}
	return out
}

// RoleCounts counts the users matching opts by namespace and spec.role, users.Counted ones only:
// counts[ns][role].
func RoleCounts(ctx context.Context, c client.Client, opts ...client.ListOption) (map[string]map[string]int, error) {
	var list accessv1alpha1.DashboardUserList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	counts := map[string]map[string]int{}
	for i := range list.Items {
		u := &list.Items[i]
		if !users.Counted(u) {
			continue
		}
		if counts[u.Namespace] == nil {
			counts[u.Namespace] = map[string]int{}
		}
		counts[u.Namespace][string(u.Spec.Role)]++
	}
	return counts, nil
}

// GetRole reads DashboardRole name in ns, with a clear error when it does not exist.
func GetRole(ctx context.Context, c client.Client, ns, name string) (*accessv1alpha1.DashboardRole, error) {
	r := &accessv1alpha1.DashboardRole{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("dashboardrole %q not found in project (namespace) %q", name, ns)
		}
		return nil, rolesAPIError(err, "get", ns, fmt.Sprintf("reading dashboardrole %q", name))
	}
	return r, nil
}

// NewRole is a DashboardRole to create, validated by ValidateNewRole.
type NewRole struct {
	Name        string
	Description string
	Permissions []roles.Permission
}

// CreateRole creates the DashboardRole r in ns; one that exists already is an error that says so
// (its permissions are not changed behind the caller's back).
func CreateRole(ctx context.Context, c client.Client, ns string, r NewRole, dryRun DryRun) (Result, error) {
	obj := &accessv1alpha1.DashboardRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardRole"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.Name},
		Spec:       accessv1alpha1.DashboardRoleSpec{Description: r.Description},
	}
	for _, p := range r.Permissions {
		obj.Spec.Permissions = append(obj.Spec.Permissions, accessv1alpha1.Permission(p))
	}
	if dryRun != DryRunClient {
		err := c.Create(ctx, obj, dryRun.createOptions()...)
		if apierrors.IsAlreadyExists(err) {
			return Result{}, fmt.Errorf("dashboardrole %q already exists in project (namespace) %q: "+
				"delete it first, or edit it with \"kubectl edit dashboardrole %s -n %s\"", r.Name, ns, r.Name, ns)
		}
		if err != nil {
			return Result{}, rolesAPIError(err, "create", ns, fmt.Sprintf("creating dashboardrole %q", r.Name))
		}
	}
	return oneLine("dashboardrole/%s created with %s%s", r.Name, joinPermissions(r.Permissions), dryRun.Suffix()), nil
}

func joinPermissions(perms []roles.Permission) string {
	if len(perms) == 0 {
		return "no permissions"
	}
	s := make([]string, len(perms))
	for i, p := range perms {
		s[i] = string(p)
	}
	return "permissions " + strings.Join(s, ", ")
}

// RoleInUseError refuses to delete a role that users still name.
type RoleInUseError struct {
	Role, Namespace string
	Count           int
	// Emails are up to MaxUsersNamed of them, sorted; empty when only status.users was known.
	Emails []string
}

func (e *RoleInUseError) Error() string {
	return fmt.Sprintf("dashboardrole %q is in use: %s; they will lose its permissions and stop being Ready: use --force to delete it anyway, "+
		"or first give them another role (kubectl dashboard users set-role USER ROLE)", e.Role, usersNaming(e.Count, e.Emails))
}

// usersNaming is "3 users name this role (a@x.io, b@x.io, c@x.io)", with "and N more" past the emails.
func usersNaming(count int, emails []string) string {
	s := fmt.Sprintf("%d users name this role", count)
	if count == 1 {
		s = "1 user names this role"
	}
	if len(emails) > 0 {
		list := strings.Join(emails, ", ")
		if more := count - len(emails); more > 0 {
			list += fmt.Sprintf(", and %d more", more)
		}
		s += " (" + list + ")"
	}
	return s
}

// usersOfRole are the emails of the users of role name in ns (users.OfRole), sorted.
func usersOfRole(ctx context.Context, c client.Client, ns, name string) ([]string, error) {
	var list accessv1alpha1.DashboardUserList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var emails []string
	for _, u := range users.OfRole(list.Items, name) {
		emails = append(emails, u.Spec.Email)
	}
	sort.Strings(emails)
	return emails, nil
}

// DeleteRole deletes DashboardRole name in ns. The API allows deleting a role users still name
// (they stop being Ready), so it is refused with a RoleInUseError unless force; a system role is
// a UsageError. Users are counted by spec.role (status.users may lag); if the caller may not list
// users, status.users decides.
func DeleteRole(ctx context.Context, c client.Client, ns, name string, force bool, dryRun DryRun) (Result, error) {
	if s, ok := roles.SystemSpelling(name); ok {
		return Result{}, usageErrorf("cannot delete %q: the system role %s is built in, not a DashboardRole", name, s)
	}
	if err := ValidateRoleName(name); err != nil {
		return Result{}, &UsageError{Err: err}
	}
	role, err := GetRole(ctx, c, ns, name)
	if err != nil {
		return Result{}, err
	}
	var res Result
	count := int(role.Status.Users)
	emails, err := usersOfRole(ctx, c, ns, name)
	if err == nil {
		count = len(emails)
	} else {
		res.warnf("Warning: could not list the users of project %q (%v); counting them from the role's status.users (%d)", ns, err, count)
	}
	if count > 0 && !force {
		return res, &RoleInUseError{Role: name, Namespace: ns, Count: count, Emails: emails[:min(len(emails), MaxUsersNamed)]}
	}
	if dryRun != DryRunClient {
		// The UID precondition: a role deleted and created again meanwhile is not the one counted.
		opts := []client.DeleteOption{client.Preconditions{UID: &role.UID}}
		if dryRun == DryRunServer {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Delete(ctx, role, opts...); err != nil {
			return res, rolesAPIError(err, "delete", ns, fmt.Sprintf("deleting dashboardrole %q", name))
		}
	}
	res.linef("dashboardrole/%s deleted%s", name, dryRun.Suffix())
	if count > 0 {
		res.warnf("Warning: %s; they lose its permissions and stop being Ready until the role returns or they get another",
			usersNaming(count, emails[:min(len(emails), MaxUsersNamed)]))
	}
	return res, nil
}

// MissingRoleError is a custom role that does not exist (yet) in the namespace.
type MissingRoleError = users.MissingRoleError

// CheckRoleExists says whether role can be given to users in ns now (users.RoleExists): nil, a
// *MissingRoleError, or the read's error. The API accepts a user naming a missing role (GitOps may
// create it later), so callers offer a way past this check.
func CheckRoleExists(ctx context.Context, c client.Client, ns string, role accessv1alpha1.Role) error {
	err := users.RoleExists(ctx, roleGetter(c), ns, string(role))
	var missing *MissingRoleError
	if err != nil && !errors.As(err, &missing) {
		return rolesAPIError(err, "get", ns, fmt.Sprintf("checking that role %q exists", role))
	}
	return err
}

// roleGetter reads DashboardRoles with c, for users.RoleExists.
func roleGetter(c client.Reader) users.GetRole {
	return func(ctx context.Context, key client.ObjectKey) error {
		return c.Get(ctx, key, &accessv1alpha1.DashboardRole{})
	}
}

// CheckInviteeRoles runs CheckRoleExists once for each distinct role of invitees, before anything
// is created, so a batch is refused whole rather than half invited.
func CheckInviteeRoles(ctx context.Context, c client.Client, ns string, invitees []Invitee) error {
	checked := map[accessv1alpha1.Role]bool{}
	for _, inv := range invitees {
		if checked[inv.Role] {
			continue
		}
		checked[inv.Role] = true
		if err := CheckRoleExists(ctx, c, ns, inv.Role); err != nil {
			return err
		}
	}
	return nil
}

// RoleChoices are the roles a user of ns can be given, for pickers: the system roles, then the
// namespace's DashboardRoles by name. A caller who may not list DashboardRoles gets the system
// roles alone (the API still judges whatever is submitted).
func RoleChoices(ctx context.Context, c client.Client, ns string) []accessv1alpha1.Role {
	out := make([]accessv1alpha1.Role, 0, len(roles.SystemNames))
	for _, name := range roles.SystemNames {
		out = append(out, accessv1alpha1.Role(name))
	}
	custom, err := ListRoles(ctx, c, ns, client.InNamespace(ns))
	if err != nil {
		return out
	}
	for _, r := range custom {
		out = append(out, accessv1alpha1.Role(r.Name))
	}
	return out
}
