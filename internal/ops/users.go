package ops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodestatus"
)

// ListUsers reads the users matching opts, sorted by namespace, then email, then name, as the
// users page shows them.
func ListUsers(ctx context.Context, c client.Client, opts ...client.ListOption) ([]accessv1alpha1.DashboardUser, error) {
	var list accessv1alpha1.DashboardUserList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	users := list.Items
	sort.SliceStable(users, func(i, j int) bool {
		a, b := &users[i], &users[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Spec.Email != b.Spec.Email {
			return a.Spec.Email < b.Spec.Email
		}
		return a.Name < b.Name
	})
	return users, nil
}

// ChunkSize is how many objects a streamed list reads per request, as kubectl get's --chunk-size.
const ChunkSize = 500

// EachUserPage reads the users matching opts in pages of at most chunk objects (Limit and
// Continue; chunk 0 reads them in one request) and calls fn with each page as it arrives, in the
// API server's order: namespace, then name. A page is not kept once fn returns, so the memory of a
// list of 10,000 users is that of one page.
func EachUserPage(ctx context.Context, c client.Client, chunk int64, fn func([]accessv1alpha1.DashboardUser) error, opts ...client.ListOption) error {
	return eachPage(ctx, c, chunk, func() *accessv1alpha1.DashboardUserList { return &accessv1alpha1.DashboardUserList{} },
		func(l *accessv1alpha1.DashboardUserList) error { return fn(l.Items) }, "users", opts)
}

// EachPasscodePage is EachUserPage for Passcodes.
func EachPasscodePage(ctx context.Context, c client.Client, chunk int64, fn func([]accessv1alpha1.Passcode) error, opts ...client.ListOption) error {
	return eachPage(ctx, c, chunk, func() *accessv1alpha1.PasscodeList { return &accessv1alpha1.PasscodeList{} },
		func(l *accessv1alpha1.PasscodeList) error { return fn(l.Items) }, "passcodes", opts)
}

// eachPage lists page by page into a fresh list each time (a decoder reusing the previous page's
// items could leave their fields behind).
func eachPage[L client.ObjectList](ctx context.Context, c client.Client, chunk int64, newList func() L, fn func(L) error,
	what string, opts []client.ListOption) error {
	opts = slices.Clip(opts)
	if chunk > 0 {
		opts = append(opts, client.Limit(chunk))
	}
	next := ""
	for {
		list := newList()
		if err := c.List(ctx, list, append(opts, client.Continue(next))...); err != nil {
			return fmt.Errorf("listing %s: %w", what, err)
		}
		if err := fn(list); err != nil {
			return err
		}
		if next = list.GetContinue(); next == "" {
			return nil
		}
	}
}

// PasscodeSummaries are the Passcode-Status of every user that has a Passcode in the namespaces
// opts select, by "namespace/user", read page by page (passcodestatus.Better folds a user's
// Passcodes one at a time). A user with none is absent: None.
func PasscodeSummaries(ctx context.Context, c client.Client, chunk int64, now time.Time,
	opts ...client.ListOption) (map[string]accessv1alpha1.PasscodeSummary, error) {
	summaries := map[string]accessv1alpha1.PasscodeSummary{}
	err := EachPasscodePage(ctx, c, chunk, func(pcs []accessv1alpha1.Passcode) error {
		for i := range pcs {
			key := pcs[i].Namespace + "/" + pcs[i].Spec.UserRef.Name
			one, _ := passcodestatus.Summarize(now, pcs[i:i+1])
			summaries[key] = passcodestatus.Better(summaries[key], one)
		}
		return nil
	}, opts...)
	return summaries, err
}

// RowWithSummary is RowForUser with Passcode-Status from summaries (PasscodeSummaries).
func RowWithSummary(u *accessv1alpha1.DashboardUser, summaries map[string]accessv1alpha1.PasscodeSummary) UserRow {
	row := RowForUser(u)
	row.PasscodeStatus = string(accessv1alpha1.PasscodeSummaryNone)
	if s, ok := summaries[u.Namespace+"/"+u.Name]; ok && s != "" {
		row.PasscodeStatus = string(s)
	}
	return row
}

// sortByNamespaceName sorts objects by namespace, then name: the order lists are shown in.
func sortByNamespaceName[T any, P interface {
	*T
	GetNamespace() string
	GetName() string
}](items []T) {
	slices.SortStableFunc(items, func(a, b T) int {
		pa, pb := P(&a), P(&b)
		return cmp.Or(strings.Compare(pa.GetNamespace(), pb.GetNamespace()), strings.Compare(pa.GetName(), pb.GetName()))
	})
}

// Rows are users as the users page and the CSV show them, in the same order.
func Rows(users []accessv1alpha1.DashboardUser) []UserRow {
	rows := make([]UserRow, len(users))
	for i := range users {
		rows[i] = RowForUser(&users[i])
	}
	return rows
}

// SetRole changes the role of the user ref (a name or an email) in ns. Demoting an Admin below the
// project's DashboardPolicy's spec.admins.minimum is refused unless force.
func SetRole(ctx context.Context, c client.Client, ns, ref string, role accessv1alpha1.Role, force bool, dryRun DryRun) (Result, error) {
	u, err := GetUser(ctx, c, ns, ref)
	if err != nil {
		return Result{}, err
	}
	old := u.Spec.Role
	if old == role {
		return oneLine("dashboarduser/%s role is already %s (no change)", u.Name, role), nil
	}
	if role != accessv1alpha1.RoleAdmin {
		if err := CheckAdminsMinimum(ctx, c, ns, u, force); err != nil {
			return Result{}, err
		}
	}
	if err := ApplyPatch(ctx, c, u, SpecPatch("role", role), dryRun); err != nil {
		return Result{}, fmt.Errorf("changing the role of dashboarduser/%s: %w", u.Name, err)
	}
	return oneLine("dashboarduser/%s role changed from %s to %s%s", u.Name, old, role, dryRun.Suffix()), nil
}

// SetAccess revokes (access Revoked) or grants again (access Granted) the access of the user ref.
// Revoking an Admin below the project's DashboardPolicy's spec.admins.minimum is refused unless force.
func SetAccess(ctx context.Context, c client.Client, ns, ref string, access accessv1alpha1.Access, force bool, dryRun DryRun) (Result, error) {
	u, err := GetUser(ctx, c, ns, ref)
	if err != nil {
		return Result{}, err
	}
	old := u.Spec.Access
	if old == "" {
		old = accessv1alpha1.AccessGranted
	}
	if old == access && u.Spec.Access != "" {
		return oneLine("dashboarduser/%s access is already %s (no change)", u.Name, access), nil
	}
	if access == accessv1alpha1.AccessRevoked {
		if err := CheckAdminsMinimum(ctx, c, ns, u, force); err != nil {
			return Result{}, err
		}
	}
	if err := ApplyPatch(ctx, c, u, SpecPatch("access", access), dryRun); err != nil {
		return Result{}, fmt.Errorf("setting the access of dashboarduser/%s to %s: %w", u.Name, access, err)
	}
	verb := "revoked"
	if access == accessv1alpha1.AccessGranted {
		verb = "granted"
	}
	r := oneLine("dashboarduser/%s access %s (was %s)%s", u.Name, verb, old, dryRun.Suffix())
	if access == accessv1alpha1.AccessRevoked {
		r.linef("Every passcode of %s stops working at once; granting access again does not revive them.", u.Spec.Email)
	} else if old == accessv1alpha1.AccessRevoked {
		r.linef("Passcodes revoked with the access stay revoked: `kubectl dashboard passcode reset NAME` issues a fresh one.")
	}
	return r, nil
}

// CanResendInvite says whether a fresh invite makes sense for u: it was invited and has not
// accepted (Invited, or InviteExpired). The page offers Resend invite only then; the command
// sends the request anyway and warns, as it always has.
func CanResendInvite(phase string) bool {
	return phase == string(accessv1alpha1.UserInvited) || phase == string(accessv1alpha1.UserInviteExpired)
}

// ResendInvite asks the operator to send the user ref a fresh invite (the previous link stops
// working), by setting the resend-invite-requested-at annotation to now.
func ResendInvite(ctx context.Context, c client.Client, ns, ref string, dryRun DryRun) (Result, error) {
	u, err := GetUser(ctx, c, ns, ref)
	if err != nil {
		return Result{}, err
	}
	now := RequestTime()
	if err := ApplyPatch(ctx, c, u, AnnotationPatch(accessv1alpha1.ResendInviteRequestedAtAnnotation, now), dryRun); err != nil {
		return Result{}, fmt.Errorf("requesting a new invite for dashboarduser/%s: %w", u.Name, err)
	}
	r := oneLine("dashboarduser/%s invite resend requested at %s%s", u.Name, now, dryRun.Suffix())
	switch {
	case u.Spec.Access == accessv1alpha1.AccessRevoked:
		r.warnf("Warning: the access of %s is Revoked: the operator sends no invite until `kubectl dashboard users grant %s`.", u.Spec.Email, u.Name)
	case u.Status.Phase == accessv1alpha1.UserActive || (u.Status.Invite != nil && u.Status.Invite.AcceptedAt != nil):
		r.warnf("Warning: %s already accepted an invite: the operator sends no other.", u.Spec.Email)
	}
	return r, nil
}
