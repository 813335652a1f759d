package plugin

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

func sampleRows() []UserRow {
	login := metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)))
	users := []accessv1alpha1.DashboardUser{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "b-project", Name: "zed"},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "zed@x.io", Role: accessv1alpha1.RoleMember},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a-project", Name: "jane"},
			Spec: accessv1alpha1.DashboardUserSpec{Email: "jane@x.io", Role: accessv1alpha1.RoleAdmin,
				DisplayName: "Doe, Jane \"JD\"\nSecond line"},
			Status: accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserActive, LastLoginAt: &login,
				PasscodeStatus: accessv1alpha1.PasscodeSummaryExpiring},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a-project", Name: "abe"},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "abe@x.io", Role: accessv1alpha1.RoleApprover, DisplayName: "Abe"},
			Status:     accessv1alpha1.DashboardUserStatus{Phase: accessv1alpha1.UserInvited},
		},
	}
	rows := make([]UserRow, 0, len(users))
	for i := range users {
		rows = append(rows, RowForUser(&users[i]))
	}
	SortRows(rows)
	return rows
}

func TestRowForUser(t *testing.T) {
	rows := sampleRows()
	if got := []string{rows[0].Email, rows[1].Email, rows[2].Email}; strings.Join(got, " ") != "abe@x.io jane@x.io zed@x.io" {
		t.Fatalf("rows are not sorted by project then email: %v", got)
	}
	jane, zed := rows[1], rows[2]
	if jane.LastLogin != "2026-03-04T04:06:07Z" {
		t.Errorf("Last Login %q, want RFC 3339 in UTC", jane.LastLogin)
	}
	if zed.UserStatus != "Pending" || zed.PasscodeStatus != "None" || zed.LastLogin != "" {
		t.Errorf("a fresh user shows %q / %q / %q, want Pending / None / empty", zed.UserStatus, zed.PasscodeStatus, zed.LastLogin)
	}
}

func TestRenderCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderCSV(&buf, sampleRows(), false); err != nil {
		t.Fatal(err)
	}
	want := "Name,Role,Email,User Status,Last Login,Passcode-Status\n" +
		"Abe,Approver,abe@x.io,Invited,,None\n" +
		"\"Doe, Jane \"\"JD\"\"\nSecond line\",Admin,jane@x.io,Active,2026-03-04T04:06:07Z,Expiring\n" +
		",Member,zed@x.io,Pending,,None\n"
	if buf.String() != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", buf.String(), want)
	}
	// And it reads back as the same fields.
	records, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if records[2][0] != "Doe, Jane \"JD\"\nSecond line" || records[2][4] != "2026-03-04T04:06:07Z" || records[1][4] != "" {
		t.Errorf("round trip: %q", records)
	}
}

func TestRenderCSVAllNamespaces(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderCSV(&buf, sampleRows(), true); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(buf.String(), "\n", 3)
	if lines[0] != "Project,Name,Role,Email,User Status,Last Login,Passcode-Status" {
		t.Errorf("header %q", lines[0])
	}
	if lines[1] != "a-project,Abe,Approver,abe@x.io,Invited,,None" {
		t.Errorf("first row %q", lines[1])
	}
	var empty bytes.Buffer
	if err := RenderCSV(&empty, nil, false); err != nil || empty.String() != "Name,Role,Email,User Status,Last Login,Passcode-Status\n" {
		t.Errorf("no users: %q, %v", empty.String(), err)
	}
}

// TestCSVNeutralisesFormulas: a cell a spreadsheet would run as a formula goes out as text (OWASP
// CSV injection); ordinary cells are untouched.
func TestCSVNeutralisesFormulas(t *testing.T) {
	rows := make([]UserRow, 0, 8)
	for _, name := range []string{`=HYPERLINK("http://evil.example","click")`, "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "Ana-Maria", "O'Brien"} {
		rows = append(rows, UserRow{Name: name, Role: "Member", Email: "a@x.io", UserStatus: "Active", PasscodeStatus: "None"})
	}
	var buf bytes.Buffer
	if err := RenderCSV(&buf, rows, false); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`'=HYPERLINK("http://evil.example","click")`, "'+1+2", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "Ana-Maria", "O'Brien"}
	for i, w := range want {
		if got := records[i+1][0]; got != w {
			t.Errorf("row %d: %q, want %q", i+1, got, w)
		}
	}
}
