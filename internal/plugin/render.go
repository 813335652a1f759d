package plugin

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

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
		LastLogin:      formatTime(u.Status.LastLoginAt),
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

// formatTime is t in RFC 3339 (UTC), or "" for nil.
func formatTime(t *metav1.Time) string {
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
	cw := csv.NewWriter(w)
	if err := cw.Write(exportHeader(withProject)); err != nil {
		return err
	}
	for _, r := range rows {
		fields := r.exportFields(withProject)
		for i := range fields {
			fields[i] = csvCell(fields[i])
		}
		if err := cw.Write(fields); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvCell neutralises a cell a spreadsheet would run as a formula (OWASP CSV injection): one that
// starts with =, +, -, @, a tab or a carriage return gets a leading single quote, so Excel, Sheets
// and LibreOffice show it as text. A display name is the only free text in the export.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// orderedObject is a JSON object whose keys keep their order.
type orderedObject struct {
	keys, values []string
}

// MarshalJSON writes the keys in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.values[i])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// RenderJSON writes rows as a JSON array of objects whose keys are exactly the export columns (with
// Project first when withProject), in the order given. An empty Last Login is "".
func RenderJSON(w io.Writer, rows []UserRow, withProject bool) error {
	header := exportHeader(withProject)
	objects := make([]orderedObject, 0, len(rows))
	for _, r := range rows {
		objects = append(objects, orderedObject{keys: header, values: r.exportFields(withProject)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(objects)
}

// RenderTable writes rows as the table of `users list`: USER, NAME, ROLE, EMAIL, USER STATUS,
// LAST LOGIN, PASSCODE-STATUS, with a leading PROJECT column when withProject.
func RenderTable(w io.Writer, rows []UserRow, withProject bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := "USER\tNAME\tROLE\tEMAIL\tUSER STATUS\tLAST LOGIN\tPASSCODE-STATUS"
	if withProject {
		header = "PROJECT\t" + header
	}
	if _, err := fmt.Fprintln(tw, header); err != nil {
		return err
	}
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", tableCell(r.Object), tableCell(r.Name), tableCell(r.Role),
			tableCell(r.Email), tableCell(r.UserStatus), tableCell(r.LastLogin), tableCell(r.PasscodeStatus))
		if withProject {
			line = tableCell(r.Project) + "\t" + line
		}
		if _, err := fmt.Fprintln(tw, line); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// tableCell keeps a cell on one line and harmless to a terminal: tab, CR and LF become spaces, and
// every other control character (ANSI escapes among them) is shown escaped, never sent raw.
func tableCell(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(c):
			fmt.Fprintf(&b, "\\u%04x", c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
