package ops

import (
	"errors"
	"strings"
	"testing"

	"github.com/dashboardops/access-operator/internal/users"
)

// FuzzInviteFile: whatever file `invite --from-file` is given, it either refuses it with a usage
// error (nothing is invited) or yields invitees that each pass the CRD's rules: a valid email, a
// known role, a display name without control characters and within its length, at most 50 of them.
func FuzzInviteFile(f *testing.F) {
	f.Add("ana@x.io,Admin,Ana Lima\nbob@x.io\n")
	f.Add("# comment\nemail,role,name\n\"carl@x.io\",Approver,\"Doe, Carl \"\"CJ\"\"\"\n")
	f.Add("a@x.io,Member,\"\x1b[31mred\"\n")
	f.Add("\"unterminated\n")
	f.Fuzz(func(t *testing.T, file string) {
		entries, err := entriesFromFile(strings.NewReader(file), "users.csv")
		if err != nil {
			return
		}
		invitees, err := validateInvitees(entries, "Member")
		if err != nil {
			var usage *UsageError
			if !errors.As(err, &usage) {
				t.Fatalf("not a usage error: %v", err)
			}
			return
		}
		if len(invitees) > MaxInvites {
			t.Fatalf("%d invitees", len(invitees))
		}
		for _, inv := range invitees {
			if users.ValidateEmail(inv.Email) != nil || len(inv.DisplayName) > maxDisplayName || strings.ContainsFunc(inv.DisplayName, users.Hidden) {
				t.Fatalf("accepted %+v", inv)
			}
			if _, err := ParseRole(string(inv.Role)); err != nil {
				t.Fatalf("accepted role %q", inv.Role)
			}
		}
	})
}
