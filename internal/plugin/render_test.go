package plugin

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

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

func TestRenderJSON(t *testing.T) {
	for _, withProject := range []bool{false, true} {
		var buf bytes.Buffer
		if err := RenderJSON(&buf, sampleRows(), withProject); err != nil {
			t.Fatal(err)
		}
		// Keys are exactly the columns, in their order.
		dec := json.NewDecoder(strings.NewReader(buf.String()))
		var raw []json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("%v:\n%s", err, buf.String())
		}
		if len(raw) != 3 {
			t.Fatalf("%d objects, want 3", len(raw))
		}
		wantKeys := ExportColumns
		if withProject {
			wantKeys = append([]string{"Project"}, ExportColumns...)
		}
		if keys := objectKeys(t, raw[1]); strings.Join(keys, "|") != strings.Join(wantKeys, "|") {
			t.Errorf("withProject=%v: keys %q, want %q", withProject, keys, wantKeys)
		}
		var objs []map[string]string
		if err := json.Unmarshal(buf.Bytes(), &objs); err != nil {
			t.Fatal(err)
		}
		jane := objs[1]
		if jane["Name"] != "Doe, Jane \"JD\"\nSecond line" || jane["Role"] != "Admin" || jane["Email"] != "jane@x.io" ||
			jane["User Status"] != "Active" || jane["Last Login"] != "2026-03-04T04:06:07Z" || jane["Passcode-Status"] != "Expiring" {
			t.Errorf("jane: %v", jane)
		}
		if last, ok := objs[2]["Last Login"]; !ok || last != "" {
			t.Errorf("an empty Last Login must be an empty string, got %q (present %v)", last, ok)
		}
		if _, ok := objs[0]["Project"]; ok != withProject {
			t.Errorf("withProject=%v but Project present=%v", withProject, ok)
		}
	}
	var empty bytes.Buffer
	if err := RenderJSON(&empty, nil, false); err != nil || strings.TrimSpace(empty.String()) != "[]" {
		t.Errorf("no users: %q, %v", empty.String(), err)
	}
}

// objectKeys lists the keys of a JSON object in the order they appear.
func objectKeys(t *testing.T, obj json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestRenderTable(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderTable(&buf, sampleRows(), true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("a display name with a newline must stay on one line:\n%s", buf.String())
	}
	if fields := strings.Fields(lines[0]); strings.Join(fields, " ") != "PROJECT USER NAME ROLE EMAIL USER STATUS LAST LOGIN PASSCODE-STATUS" {
		t.Errorf("header %q", lines[0])
	}
	if !strings.Contains(lines[2], "Doe, Jane \"JD\" Second line") || !strings.HasPrefix(lines[2], "a-project") {
		t.Errorf("jane's line %q", lines[2])
	}
	buf.Reset()
	if err := RenderTable(&buf, sampleRows(), false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "USER ") {
		t.Errorf("without -A the table starts with USER: %q", buf.String())
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

// TestTableEscapesControlCharacters: an ANSI escape in a display name never reaches the terminal raw.
func TestTableEscapesControlCharacters(t *testing.T) {
	var buf bytes.Buffer
	rows := []UserRow{{Object: "jane", Name: "\x1b[2J\x1b[31mRED\x07\u009b", Role: "Member", Email: "a@x.io"}}
	if err := RenderTable(&buf, rows, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, c := range out {
		if c != '\n' && unicode.IsControl(c) {
			t.Fatalf("a raw control character %U reached the output: %q", c, out)
		}
	}
	if !strings.Contains(out, `\u001b[2J\u001b[31mRED\u0007\u009b`) {
		t.Fatalf("the escapes are shown escaped: %q", out)
	}
}
