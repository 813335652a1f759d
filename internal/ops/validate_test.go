package ops

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, r := range []string{"Admin", "Creator", "Member", "Approver", "data-analyst", "r2"} {
		got, err := ParseRole(r)
		if err != nil || string(got) != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for in, want := range map[string]string{
		"admin":  "did you mean Admin?",
		"MEMBER": "did you mean Member?",
		"Owner":  "must be a system role (Admin, Creator, Member, Approver) or the name of a DashboardRole",
		"":       "must be a system role",
		"a.b":    "lower-case letters, digits and '-'",
	} {
		if _, err := ParseRole(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRole(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func emails(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@example.com", i)
	}
	return out
}

func TestValidateInvitees(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		file    string
		role    string
		want    []Invitee // Email, Role, DisplayName compared
		wantErr []string  // substrings; each problem must be named
	}{
		{name: "three emails", args: []string{"a@x.io", "b@x.io", "c@x.io"}, role: "Member",
			want: []Invitee{{Email: "a@x.io", Role: "Member"}, {Email: "b@x.io", Role: "Member"}, {Email: "c@x.io", Role: "Member"}}},
		{name: "50 is the limit", args: emails(50), role: "Admin", want: nil},
		{name: "51 emails", args: emails(51), role: "Member", wantErr: []string{"51 users to invite: at most 50"}},
		{name: "duplicates count once", args: append(emails(50), "user0@example.com"), role: "Member"},
		{name: "upper case", args: []string{"a@x.io", "Bob@x.io"}, role: "Member",
			wantErr: []string{`argument 2 ("Bob@x.io"): invalid email "Bob@x.io": must be lower case`, `did you mean "bob@x.io"?`}},
		{name: "every bad argument is named", args: []string{"bad", "ok@x.io", "Also@Bad"}, role: "Member",
			wantErr: []string{"nothing was invited: 2 problems", `argument 1 ("bad")`, `argument 3 ("Also@Bad")`}},
		{name: "bad role", args: []string{"a@x.io"}, role: "Owner", wantErr: []string{`--role: invalid role "Owner"`}},
		{name: "no role", args: []string{"a@x.io"}, wantErr: []string{"no role: give one with --role"}},
		{name: "no one", wantErr: []string{"no one to invite"}},
		{name: "csv with roles and names", role: "Member",
			file: "# our team\nemail,role,name\n\nana@x.io,Admin,Ana Lima\n  bob@x.io , , Bob \n\"carl@x.io\",Approver,\"Doe, Carl \"\"CJ\"\"\"\ndee@x.io\n",
			want: []Invitee{{Email: "ana@x.io", Role: "Admin", DisplayName: "Ana Lima"}, {Email: "bob@x.io", Role: "Member", DisplayName: "Bob"},
				{Email: "carl@x.io", Role: "Approver", DisplayName: `Doe, Carl "CJ"`}, {Email: "dee@x.io", Role: "Member"}}},
		{name: "csv lines without a role need --role", file: "ana@x.io,Admin\nbob@x.io\n",
			wantErr: []string{"users.csv:2: no role"}},
		{name: "csv with bad columns", role: "Member",
			file: "ana@x.io,Admin,Ana,extra\nbob@x.io,Boss\nCarl@x.io,Member\nbad\"quote@x.io\n" + "dee@x.io,Member," + strings.Repeat("n", 129) + "\n",
			wantErr: []string{"nothing was invited: 5 problems", "users.csv:1: expected email[,role[,name]] but found 4 columns",
				`users.csv:2: invalid role "Boss"`, `users.csv:3: invalid email "Carl@x.io"`, "users.csv:4:", `bare " in non-quoted-field`,
				"users.csv:5: name must be at most 128 characters"}},
		{name: "names with control characters", role: "Member", file: "ana@x.io,Member,\"\x1b[31mAna\"\nbob@x.io,Member,\"Bob\nSmith\"\n",
			wantErr: []string{"nothing was invited: 2 problems", "users.csv:1: name must not contain control characters",
				"users.csv:2: name must not contain control characters"}},
		{name: "undeliverable emails", args: []string{".a@x.io", "a..b@x.io", "a.@x.io"}, role: "Member",
			wantErr: []string{"nothing was invited: 3 problems", `".a@x.io"`, `"a..b@x.io"`, `"a.@x.io"`}},
		{name: "the same email with two roles", args: []string{"a@x.io"}, role: "Member", file: "a@x.io,Admin\n",
			wantErr: []string{"users.csv:1: a@x.io is also listed at argument 1"}},
		{name: "the same email twice, once with a name", args: []string{"a@x.io"}, role: "Member", file: "a@x.io,Member,Ann\n",
			want: []Invitee{{Email: "a@x.io", Role: "Member", DisplayName: "Ann"}}},
		{name: "arguments and a file together", args: []string{"a@x.io"}, role: "Creator", file: "b@x.io\n",
			want: []Invitee{{Email: "a@x.io", Role: "Creator"}, {Email: "b@x.io", Role: "Creator"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := entriesFromArgs(tt.args)
			if tt.file != "" {
				fromFile, err := entriesFromFile(strings.NewReader(tt.file), "users.csv")
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, fromFile...)
			}
			got, err := validateInvitees(entries, tt.role)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want an error, got %d invitees", len(got))
				}
				if ExitCode(err) != ExitUsage {
					t.Errorf("exit code %d, want %d", ExitCode(err), ExitUsage)
				}
				var problems InviteProblems
				if strings.Contains(tt.wantErr[0], "problem") && !errors.As(err, &problems) {
					t.Errorf("error %T is not InviteProblems", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.want == nil {
				if len(got) != len(dedupe(tt.args)) {
					t.Fatalf("%d invitees, want %d", len(got), len(dedupe(tt.args)))
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Email != tt.want[i].Email || got[i].Role != tt.want[i].Role || got[i].DisplayName != tt.want[i].DisplayName {
					t.Errorf("invitee %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func dedupe(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}
