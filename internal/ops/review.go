package ops

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// maxReviewReason mirrors the CRD's bound on spec.decisions[].reason.
const maxReviewReason = 512

// GetReview reads the AccessReview name in ns, with an error that says what exists when it does not.
func GetReview(ctx context.Context, c client.Client, ns, name string) (*accessv1alpha1.AccessReview, error) {
	rv := &accessv1alpha1.AccessReview{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, rv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("access review %q not found in namespace %q (kubectl get accessreviews -n %s lists them)", name, ns, ns)
		}
		return nil, fmt.Errorf("reading access review %q: %w", name, err)
	}
	return rv, nil
}

// WhoAmI is the caller's user name as the API server authenticates it (a SelfSubjectReview), so a
// decision records who made it, not who it claims to be. c's scheme must know authentication/v1.
func WhoAmI(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview), to record who decided: %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", fmt.Errorf("the API server did not say who you are (SelfSubjectReview), to record who decided")
	}
	return review.Status.UserInfo.Username, nil
}

// Decision is one decide request: the users (emails, or DashboardUser names), Keep or Revoke, a
// reason, and who decides (the caller's Kubernetes user name).
type Decision struct {
	Users    []string
	Decision accessv1alpha1.ReviewDecision
	Reason   string
	By       string
}

// CheckDecision refuses what the API server would (or what the review cannot hold), before
// anything is sent, naming the argument.
func CheckDecision(d Decision) error {
	if len(d.Users) == 0 {
		return usageErrorf("no user given: name at least one user's email")
	}
	if d.Decision != accessv1alpha1.ReviewKeep && d.Decision != accessv1alpha1.ReviewRevoke {
		return usageErrorf("decision %q: must be Keep or Revoke (--keep or --revoke)", d.Decision)
	}
	if len(d.Reason) > maxReviewReason {
		return usageErrorf("--reason: at most %d characters, got %d", maxReviewReason, len(d.Reason))
	}
	if strings.ContainsFunc(d.Reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return usageErrorf("--reason: must not contain control characters (newlines, tabs, escape sequences)")
	}
	return nil
}

// reviewUser finds ref (an email, or a DashboardUser name) in the review's snapshot.
func reviewUser(rv *accessv1alpha1.AccessReview, ref string) (accessv1alpha1.ReviewedUser, bool) {
	for _, u := range rv.Status.Users {
		if strings.EqualFold(u.Email, ref) || u.Name == ref {
			return u, true
		}
	}
	return accessv1alpha1.ReviewedUser{}, false
}

// decidable says why decisions cannot be recorded on rv, or nil.
func decidable(rv *accessv1alpha1.AccessReview) error {
	switch {
	case rv.Spec.Schedule != "":
		last := rv.Status.LastCreated
		if last == "" {
			last = "none yet"
		}
		return usageErrorf("access review %q is a schedule (spec.schedule): decide in the reviews it creates (latest: %s)", rv.Name, last)
	case rv.Status.Phase == accessv1alpha1.ReviewCompleted:
		return usageErrorf("access review %q completed at %s: its decisions were carried out and are final", rv.Name, FormatTime(rv.Status.CompletedAt))
	case rv.Status.SnapshotAt == nil:
		return fmt.Errorf("access review %q has no snapshot of its users yet (status.phase %q): try again in a moment", rv.Name, rv.Status.Phase)
	}
	return nil
}

// DecideReview records d in the review's spec.decisions (one entry per user, replacing an earlier
// decision about the same user), with who and when. Every user must be in the review's snapshot;
// nothing is written unless all are. The write carries the review's resourceVersion, so decisions
// recorded meanwhile by someone else are kept (it reads again and retries).
func DecideReview(ctx context.Context, c client.Client, ns, name string, d Decision, now time.Time, dryRun DryRun) (Result, error) {
	if err := CheckDecision(d); err != nil {
		return Result{}, err
	}
	for attempt := 0; ; attempt++ {
		rv, err := GetReview(ctx, c, ns, name)
		if err != nil {
			return Result{}, err
		}
		if err := decidable(rv); err != nil {
			return Result{}, err
		}
		changed := rv.DeepCopy()
		var res Result
		at := metav1.NewTime(now.UTC().Truncate(time.Second))
		for _, ref := range d.Users {
			u, ok := reviewUser(rv, ref)
			if !ok {
				return Result{}, usageErrorf("no user %q in access review %q (it covers %d users; one created after %s is in the next review)",
					ref, name, len(rv.Status.Users), FormatTime(rv.Status.SnapshotAt))
			}
			entry := accessv1alpha1.AccessReviewDecision{Email: u.Email, Decision: d.Decision, Reason: d.Reason, DecidedBy: d.By, DecidedAt: &at}
			if i := slices.IndexFunc(changed.Spec.Decisions, func(x accessv1alpha1.AccessReviewDecision) bool { return x.Email == u.Email }); i >= 0 {
				changed.Spec.Decisions[i] = entry
			} else {
				changed.Spec.Decisions = append(changed.Spec.Decisions, entry)
			}
			res.linef("accessreview/%s: %s decided %s%s", name, u.Email, d.Decision, dryRun.Suffix())
		}
		err = ApplyPatch(ctx, c, changed, client.MergeFromWithOptions(rv, client.MergeFromWithOptimisticLock{}), dryRun)
		if apierrors.IsConflict(err) && attempt < 5 {
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("recording the decisions in access review %q: %w", name, err)
		}
		return res, nil
	}
}

// ColumnUser is the DashboardUser's name (the USER argument of the other commands).
const ColumnUser = "User"

// The columns of `review export`.
var (
	ReviewColumns = []string{ColumnUser, ColumnName, ColumnEmail, ColumnRole, ColumnUserStatus, ColumnLastLogin, "Last Passcode Use",
		"Decision", "Decided By", "Decided At", "Reason", "Outcome"}
	ChangesColumns = []string{"Change", ColumnUser, ColumnEmail, "Previous Role", ColumnRole}
)

// ExportReview writes the review's evidence as CSV: one row per reviewed user (as recorded, with
// the decision and, once completed, its outcome), then, after an empty line, what changed since
// the previous completed review (users added, removed, role changes), which reviewers are asked for.
func ExportReview(ctx context.Context, c client.Client, ns, name string, w io.Writer) error {
	rv, err := GetReview(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if rv.Spec.Schedule != "" {
		return usageErrorf("access review %q is a schedule (spec.schedule): export the reviews it creates (latest: %s)", name, rv.Status.LastCreated)
	}
	if rv.Status.SnapshotAt == nil {
		return fmt.Errorf("access review %q has no snapshot of its users yet: try again in a moment", name)
	}
	var prev *accessv1alpha1.AccessReview
	if p := rv.Status.PreviousReview; p != "" {
		prev = &accessv1alpha1.AccessReview{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: p}, prev); err != nil {
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("reading the previous access review %q: %w", p, err)
			}
			prev = nil // deleted since: the changes say so
		}
	}
	cw := csv.NewWriter(w)
	write := func(fields ...string) {
		for i := range fields {
			fields[i] = CSVCell(fields[i])
		}
		_ = cw.Write(fields) // the error sticks in cw and is returned by cw.Error
	}
	write(ReviewColumns...)
	for _, row := range ReviewRows(rv) {
		write(row.fields()...)
	}
	cw.Flush()
	if _, err := io.WriteString(w, "\n"); err != nil { // the empty line between the two tables
		return err
	}
	write(ChangesColumns...)
	for _, row := range reviewChanges(rv, prev) {
		write(row...)
	}
	cw.Flush()
	return cw.Error()
}

// ReviewRow is one reviewed user as the export and the users page's review show it.
type ReviewRow struct {
	User, Name, Email, Role, UserStatus, LastLogin, LastUse string
	Decision, DecidedBy, DecidedAt, Reason, Outcome         string
	// Undecided: nobody has decided (Decision says "(undecided)").
	Undecided bool
}

func (r ReviewRow) fields() []string {
	return []string{r.User, r.Name, r.Email, r.Role, r.UserStatus, r.LastLogin, r.LastUse, r.Decision, r.DecidedBy, r.DecidedAt, r.Reason, r.Outcome}
}

// ReviewRows are the evidence rows of rv: the decision in force (the recorded one once completed,
// else the current spec's; "(undecided)" when none).
func ReviewRows(rv *accessv1alpha1.AccessReview) []ReviewRow {
	decisions := map[string]accessv1alpha1.AccessReviewDecision{}
	for _, d := range rv.Spec.Decisions {
		decisions[d.Email] = d
	}
	rows := make([]ReviewRow, 0, len(rv.Status.Users))
	for _, u := range rv.Status.Users {
		row := ReviewRow{User: u.Name, Name: u.DisplayName, Email: u.Email, Role: u.Role, UserStatus: string(u.Status),
			LastLogin: FormatTime(u.LastLoginAt), LastUse: lastUse(u), Decision: string(u.Decision), DecidedBy: u.DecidedBy,
			DecidedAt: FormatTime(u.DecidedAt), Reason: u.Reason, Outcome: string(u.Outcome)}
		if u.Outcome == "" { // open: what is decided so far
			row.Decision, row.DecidedBy, row.DecidedAt, row.Reason, row.Undecided = "(undecided)", "", "", "", true
			if d, ok := decisions[u.Email]; ok {
				row.Decision, row.DecidedBy, row.DecidedAt, row.Reason, row.Undecided = string(d.Decision), d.DecidedBy, FormatTime(d.DecidedAt), d.Reason, false
			}
		} else if row.DecidedBy == "" && row.DecidedAt == "" {
			row.DecidedBy = "(default decision)"
		}
		rows = append(rows, row)
	}
	return rows
}

// lastUse is the latest use of any of the user's passcodes at the snapshot.
func lastUse(u accessv1alpha1.ReviewedUser) string {
	var last *metav1.Time
	for _, p := range u.Passcodes {
		if p.LastUsedAt != nil && (last == nil || p.LastUsedAt.After(last.Time)) {
			last = p.LastUsedAt
		}
	}
	return FormatTime(last)
}

// reviewChanges compares rv's snapshot with prev's (by email): Added, Removed, Role changed.
func reviewChanges(rv, prev *accessv1alpha1.AccessReview) [][]string {
	if prev == nil {
		what := "No previous completed review"
		if rv.Status.PreviousReview != "" {
			what = fmt.Sprintf("Previous review %s was deleted", rv.Status.PreviousReview)
		}
		return [][]string{{what, "", "", "", ""}}
	}
	before := map[string]accessv1alpha1.ReviewedUser{}
	for _, u := range prev.Status.Users {
		before[u.Email] = u
	}
	var rows [][]string
	for _, u := range rv.Status.Users {
		p, ok := before[u.Email]
		switch {
		case !ok:
			rows = append(rows, []string{"Added", u.Name, u.Email, "", u.Role})
		case p.Role != u.Role:
			rows = append(rows, []string{"Role changed", u.Name, u.Email, p.Role, u.Role})
		}
		delete(before, u.Email)
	}
	for _, p := range prev.Status.Users {
		if _, gone := before[p.Email]; gone {
			rows = append(rows, []string{"Removed", p.Name, p.Email, p.Role, ""})
		}
	}
	if len(rows) == 0 {
		rows = append(rows, []string{"No change since " + prev.Name, "", "", "", ""})
	}
	return rows
}
