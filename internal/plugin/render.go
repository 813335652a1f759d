package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// The columns of `users export`: the dashboard's users page, in its order.
const (
	ColumnProject        = ops.ColumnProject
	ColumnName           = ops.ColumnName
	ColumnRole           = ops.ColumnRole
	ColumnEmail          = ops.ColumnEmail
	ColumnUserStatus     = ops.ColumnUserStatus
	ColumnLastLogin      = ops.ColumnLastLogin
	ColumnPasscodeStatus = ops.ColumnPasscodeStatus
)

// Columns of the tables beside the export's.
const (
	columnUser     = "User"
	columnReady    = "Ready"
	columnPasscode = "Passcode"
)

// ExportColumns are the columns of `users export`, without Project.
var ExportColumns = ops.ExportColumns

// UserRow is one user as the users page shows it.
type UserRow = ops.UserRow

// RowForUser is u as the users page shows it (see ops.RowForUser).
func RowForUser(u *accessv1alpha1.DashboardUser) UserRow { return ops.RowForUser(u) }

// SortRows orders rows by project, then email, then object name.
func SortRows(rows []UserRow) { ops.SortRows(rows) }

// RenderCSV writes rows as the users page's CSV download (see ops.RenderCSV).
func RenderCSV(w io.Writer, rows []UserRow, withProject bool) error {
	return ops.RenderCSV(w, rows, withProject)
}

// formatTime is t in RFC 3339 (UTC), or "" for nil.
func formatTime(t *metav1.Time) string { return ops.FormatTime(t) }

// userTable is the table of `users list`: USER (the object's name, the USER argument of the other
// commands), then the dashboard's columns, named as in the CSV download; -o wide adds Access,
// Ready and Age.
var userTable = tableSpec{
	columns: []metav1.TableColumnDefinition{
		{Name: columnUser, Type: cellString, Format: cellName, Description: "The DashboardUser's name: the USER argument of the other commands"},
		{Name: ColumnName, Type: cellString, Description: "spec.displayName"},
		{Name: ColumnRole, Type: cellString, Description: "spec.role"},
		{Name: ColumnEmail, Type: cellString, Description: "spec.email"},
		{Name: ColumnUserStatus, Type: cellString, Description: "status.phase; Pending until the operator reports"},
		{Name: ColumnLastLogin, Type: cellString, Description: "status.lastLoginAt, RFC 3339 in UTC"},
		{Name: ColumnPasscodeStatus, Type: cellString, Description: "status.passcodeStatus; None without a passcode"},
		{Name: "Access", Type: cellString, Priority: 1, Description: "spec.access"},
		{Name: columnReady, Type: cellString, Priority: 1, Description: "The Ready condition: status (reason)"},
		{Name: "Age", Type: cellString, Priority: 1, Description: "Since metadata.creationTimestamp"},
	},
	cells: func(obj runtime.Object) []any {
		u, ok := obj.(*accessv1alpha1.DashboardUser)
		if !ok {
			return nil
		}
		r := RowForUser(u)
		access := u.Spec.Access
		if access == "" {
			access = accessv1alpha1.AccessGranted
		}
		return []any{r.Object, r.Name, r.Role, r.Email, r.UserStatus, r.LastLogin, r.PasscodeStatus,
			string(access), readyCell(u.Status.Conditions), age(u.CreationTimestamp)}
	},
}

// passcodeTable is the table of `passcode list` (and of `passcode status -o wide`): the columns of
// `kubectl get passcodes`; -o wide adds Rotation, Tenure, Secret, Revoked, Ready and Age.
var passcodeTable = tableSpec{
	columns: []metav1.TableColumnDefinition{
		{Name: columnPasscode, Type: cellString, Format: cellName, Description: "The Passcode's name: the NAME argument of the other passcode commands"},
		{Name: columnUser, Type: cellString, Description: "spec.userRef.name"},
		{Name: "Status", Type: cellString, Description: "status.phase; Pending until the operator reports"},
		{Name: "Expires", Type: cellString, Description: "status.expiresAt, RFC 3339 in UTC"},
		{Name: "Renews", Type: cellString, Description: "status.renewalTime, RFC 3339 in UTC"},
		{Name: "Revision", Type: cellInteger, Description: "status.revision"},
		{Name: "Last Used", Type: cellString, Description: "status.lastUsedAt, RFC 3339 in UTC"},
		{Name: "Rotation", Type: cellString, Priority: 1, Description: "spec.rotation.policy"},
		{Name: "Tenure", Type: cellString, Priority: 1, Description: "spec.tenure"},
		{Name: "Secret", Type: cellString, Priority: 1, Description: "The Secret that holds the passcode (never read by the plugin)"},
		{Name: "Revoked", Type: cellBoolean, Priority: 1, Description: "spec.revoked"},
		{Name: columnReady, Type: cellString, Priority: 1, Description: "The Ready condition: status (reason)"},
		{Name: "Age", Type: cellString, Priority: 1, Description: "Since metadata.creationTimestamp"},
	},
	cells: func(obj runtime.Object) []any {
		pc, ok := obj.(*accessv1alpha1.Passcode)
		if !ok {
			return nil
		}
		v := ops.ViewPasscode(pc)
		return []any{pc.Name, pc.Spec.UserRef.Name, v.Phase, orNone(formatTime(pc.Status.ExpiresAt), "<none>"),
			orNone(formatTime(pc.Status.RenewalTime), "<none>"), pc.Status.Revision, orNone(formatTime(pc.Status.LastUsedAt), "<never>"),
			string(v.Rotation), pc.Spec.Tenure, v.Secret, pc.Spec.Revoked, readyCell(pc.Status.Conditions), age(pc.CreationTimestamp)}
	},
}

// orNone is s, or none when s is empty.
func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// readyCell is the Ready condition as a cell: "True (Issued)", or Unknown before the operator reports.
func readyCell(conditions []metav1.Condition) string {
	cond := apimeta.FindStatusCondition(conditions, accessv1alpha1.ConditionReady)
	if cond == nil {
		return string(metav1.ConditionUnknown)
	}
	if cond.Reason == "" {
		return string(cond.Status)
	}
	return fmt.Sprintf("%s (%s)", cond.Status, cond.Reason)
}

// age is the time since t as kubectl get shows it (5m, 3d), or <unknown>.
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// tableCell keeps a cell on one line and harmless to a terminal: tab, CR and LF become spaces, and
// every other control character (ANSI escapes among them) and invisible format character (the
// right-to-left override U+202E among them) is shown escaped, never sent raw (ops.Visible).
func tableCell(s string) string {
	return ops.Visible(strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s))
}
