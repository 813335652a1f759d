package ops

import (
	"encoding/csv"
	"io"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// The columns of `users export`: the dashboard's users page, in its order.
const (
	ColumnProject        = "Project"
	ColumnName           = "Name"
	ColumnRole           = "Role"
	ColumnEmail          = "Email"
	ColumnUserStatus     = "User Status"
	ColumnLastLogin      = "Last Login"
	ColumnPasscodeStatus = "Passcode-Status"
)

// ExportColumns are the columns of `users export`, without Project.
var ExportColumns = []string{ColumnName, ColumnRole, ColumnEmail, ColumnUserStatus, ColumnLastLogin, ColumnPasscodeStatus}

// UserRow is one user as the users page shows it.
type UserRow struct {
	// Project is the namespace.
	Project string
	// Object is the DashboardUser's name (the USER argument of the other commands).
	Object         string
	Name           string
	Role           string
	Email          string
	UserStatus     string
	LastLogin      string
	PasscodeStatus string
}

// RowForUser is u as the users page shows it: an empty phase is Pending, an empty passcode status
// None, a login never made an empty Last Login, otherwise RFC 3339 in UTC.
func RowForUser(u *accessv1alpha1.DashboardUser) UserRow {
	row := UserRow{
		Project:        u.Namespace,
		Object:         u.Name,
		Name:           u.Spec.DisplayName,
		Role:           string(u.Spec.Role),
		Email:          u.Spec.Email,
		UserStatus:     string(u.Status.Phase),
		LastLogin:      FormatTime(u.Status.LastLoginAt),
		PasscodeStatus: string(u.Status.PasscodeStatus),
	}
	if row.UserStatus == "" {
		row.UserStatus = string(accessv1alpha1.UserPending)
	}
	if row.PasscodeStatus == "" {
		row.PasscodeStatus = string(accessv1alpha1.PasscodeSummaryNone)
	}
	return row
}

// FormatTime is t in RFC 3339 (UTC), or "" for nil.
func FormatTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// SortRows orders rows by project, then email, then object name, so that output is stable.
func SortRows(rows []UserRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.Object < b.Object
	})
}

func (r UserRow) exportFields(withProject bool) []string {
	fields := []string{r.Name, r.Role, r.Email, r.UserStatus, r.LastLogin, r.PasscodeStatus}
	if withProject {
		return append([]string{r.Project}, fields...)
	}
	return fields
}

func exportHeader(withProject bool) []string {
	if withProject {
		return append([]string{ColumnProject}, ExportColumns...)
	}
	return append([]string(nil), ExportColumns...)
}

// RenderCSV writes rows as CSV (RFC 4180, with a header row) in the order given; withProject adds a
// first Project column.
func RenderCSV(w io.Writer, rows []UserRow, withProject bool) error {
	cw, err := NewCSVWriter(w, withProject)
	if err != nil {
		return err
	}
	return cw.Write(rows)
}

// CSVWriter writes the export a page of rows at a time: the header once, then each page as it is
// read, flushed, so that a download of 10,000 users starts at once and holds one page.
type CSVWriter struct {
	cw          *csv.Writer
	withProject bool
}

// NewCSVWriter writes the header row to w.
func NewCSVWriter(w io.Writer, withProject bool) (*CSVWriter, error) {
	c := &CSVWriter{cw: csv.NewWriter(w), withProject: withProject}
	if err := c.cw.Write(exportHeader(withProject)); err != nil {
		return nil, err
	}
	return c, nil
}

// Write writes rows and flushes them.
func (c *CSVWriter) Write(rows []UserRow) error {
	for _, r := range rows {
		fields := r.exportFields(c.withProject)
		for i := range fields {
			fields[i] = CSVCell(fields[i])
		}
		if err := c.cw.Write(fields); err != nil {
			return err
		}
	}
	c.cw.Flush()
	return c.cw.Error()
}

// CSVCell neutralises a cell a spreadsheet would run as a formula (OWASP CSV injection): one that
// starts with =, +, -, @, a tab or a carriage return gets a leading single quote, so Excel, Sheets
// and LibreOffice show it as text; and invisible format characters (a right-to-left override) are
// written escaped, as in the tables (Hidden; control characters stay, quoted as RFC 4180 allows).
// A display name is the only free text in the export.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return escapeRunes(s, hiddenFormat)
}
