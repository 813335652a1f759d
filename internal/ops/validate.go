package ops

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
	"github.com/dashboardops/access-operator/internal/users"
)

// MaxInvites is the dashboard's limit of users invited in one call (the API's other limits on a
// user are internal/users' rules, checked here too so that a bad call writes nothing).
const (
	MaxInvites     = 50
	maxDisplayName = 128
)

// ParseRole returns the role named s: a system role spelled exactly (Admin, Creator, Member or
// Approver) or a DashboardRole's name, with the rules the API server applies (roles.CheckName). A
// system role in another case is refused with the right spelling as a hint.
func ParseRole(s string) (accessv1alpha1.Role, error) {
	if err := roles.CheckName(s); err != nil {
		return "", err
	}
	return accessv1alpha1.Role(s), nil
}

// Invitee is one user to invite.
type Invitee struct {
	Email       string
	Role        accessv1alpha1.Role
	DisplayName string
	// Source says where the invitee came from, for messages: `argument 2` or `users.csv:4`.
	Source string
}

// inviteEntry is an unvalidated invitee: Role may be empty (then the --role default applies).
type inviteEntry struct {
	email, role, name, source string
	// problem is a parse error of the entry's line, reported as is.
	problem error
}

// entriesFromArgs turns EMAIL arguments into entries.
func entriesFromArgs(args []string) []inviteEntry {
	entries := make([]inviteEntry, 0, len(args))
	for i, a := range args {
		entries = append(entries, inviteEntry{email: strings.TrimSpace(a), source: fmt.Sprintf("argument %d (%q)", i+1, a)})
	}
	return entries
}

// entriesFromFile reads an invite file: one user per line, either an email alone or CSV
// `email,role,name` (role and name optional, RFC 4180 quoting for names with commas). Lines
// starting with '#' and blank lines are ignored, and so is a header line whose first field is
// "email".
func entriesFromFile(r io.Reader, fileName string) ([]inviteEntry, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var entries []inviteEntry
	first := true
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("reading %s: %w", fileName, err)
			}
			entries = append(entries, inviteEntry{source: fmt.Sprintf("%s:%d", fileName, pe.StartLine), problem: pe.Err})
			continue
		}
		line, _ := cr.FieldPos(0)
		source := fmt.Sprintf("%s:%d", fileName, line)
		for i := range record {
			record[i] = strings.TrimSpace(record[i])
		}
		record[0] = strings.TrimPrefix(record[0], "\ufeff") // a byte order mark, as spreadsheets write
		if (len(record) == 1 && record[0] == "") || strings.HasPrefix(record[0], "#") {
			continue // a line of spaces only, or an indented comment
		}
		if first && strings.EqualFold(record[0], "email") {
			first = false
			continue // a header line
		}
		first = false
		if len(record) > 3 {
			entries = append(entries, inviteEntry{source: source,
				problem: fmt.Errorf("expected email[,role[,name]] but found %d columns (quote a name that has a comma)", len(record))})
			continue
		}
		e := inviteEntry{email: record[0], source: source}
		if len(record) > 1 {
			e.role = record[1]
		}
		if len(record) > 2 {
			e.name = record[2]
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// InviteProblems is every reason an invite call is refused; nothing is written when it has any.
type InviteProblems []string

func (p InviteProblems) Error() string {
	head := fmt.Sprintf("nothing was invited: %d problem", len(p))
	if len(p) != 1 {
		head += "s"
	}
	return head + ":\n  " + strings.Join(p, "\n  ")
}

// displayNameProblems are the CRD's rules for spec.displayName.
func displayNameProblems(name string) []string {
	var bad []string
	if len(name) > maxDisplayName {
		bad = append(bad, fmt.Sprintf("name must be at most %d characters (it has %d)", maxDisplayName, len(name)))
	}
	if p := users.HiddenProblem(name); p != "" {
		bad = append(bad, "name "+p)
	}
	return bad
}

// validateInvitees checks every entry with the CRD's rules, applies the default role, drops exact
// duplicates (one invite per email) and enforces MaxInvites. It reports every problem at once.
func validateInvitees(entries []inviteEntry, defaultRole string) ([]Invitee, error) {
	var problems InviteProblems
	var def accessv1alpha1.Role
	if defaultRole != "" {
		r, err := ParseRole(defaultRole)
		if err != nil {
			problems = append(problems, "--role: "+err.Error())
		}
		def = r
	}
	invitees := make([]Invitee, 0, len(entries))
	seen := map[string]int{} // email -> index in invitees
	for _, e := range entries {
		if e.problem != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.source, e.problem))
			continue
		}
		var bad []string
		if err := users.ValidateEmail(e.email); err != nil {
			bad = append(bad, err.Error())
		}
		role := def
		switch {
		case e.role != "":
			r, err := ParseRole(e.role)
			if err != nil {
				bad = append(bad, err.Error())
			}
			role = r
		case defaultRole == "":
			bad = append(bad, "no role: give one with --role or in the second column of --from-file")
		}
		bad = append(bad, displayNameProblems(e.name)...)
		if len(bad) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %s", e.source, strings.Join(bad, "; ")))
			continue
		}
		inv := Invitee{Email: e.email, Role: role, DisplayName: e.name, Source: e.source}
		if i, dup := seen[e.email]; dup {
			prev := invitees[i]
			if prev.Role != inv.Role || (inv.DisplayName != "" && prev.DisplayName != "" && prev.DisplayName != inv.DisplayName) {
				problems = append(problems, fmt.Sprintf("%s: %s is also listed at %s with a different role or name", e.source, e.email, prev.Source))
			} else if prev.DisplayName == "" {
				invitees[i].DisplayName = inv.DisplayName
			}
			continue
		}
		seen[e.email] = len(invitees)
		invitees = append(invitees, inv)
	}
	if len(invitees) > MaxInvites {
		problems = append(problems, fmt.Sprintf("%d users to invite: at most %d can be invited at a time, split the list", len(invitees), MaxInvites))
	}
	if len(problems) > 0 {
		return nil, &UsageError{Err: problems}
	}
	if len(invitees) == 0 {
		return nil, usageErrorf("no one to invite: give EMAIL arguments or --from-file")
	}
	return invitees, nil
}

// InviteEntry is an unvalidated invitee, as read from arguments, a file or a form.
type InviteEntry = inviteEntry

// NewInviteEntry is an entry of the users page's "+ User" form: an email and a role (empty for
// the default role), named by source in messages (e.g. `row 2`).
func NewInviteEntry(email, role, source string) InviteEntry {
	return inviteEntry{email: strings.TrimSpace(email), role: strings.TrimSpace(role), source: source}
}

// EntriesFromArgs turns EMAIL arguments into entries.
func EntriesFromArgs(args []string) []InviteEntry { return entriesFromArgs(args) }

// EntriesFromFile reads an invite file (see entriesFromFile).
func EntriesFromFile(r io.Reader, fileName string) ([]InviteEntry, error) {
	return entriesFromFile(r, fileName)
}

// ValidateInvitees checks entries with the CRD's rules and MaxInvites, every problem at once (a
// UsageError); defaultRole is the role of entries without one.
func ValidateInvitees(entries []InviteEntry, defaultRole string) ([]Invitee, error) {
	return validateInvitees(entries, defaultRole)
}
