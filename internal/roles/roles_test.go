package roles

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestSystemRoles(t *testing.T) {
	admin, _ := System(Admin)
	if len(admin) != len(Vocabulary) {
		t.Errorf("Admin has %d permissions, want every one of %d", len(admin), len(Vocabulary))
	}
	member, ok := System(Member)
	if !ok || !Has(member, "reports.read") || Has(member, "reports.write") {
		t.Errorf("Member = %v, want reports.read and not reports.write", member)
	}
	for _, name := range SystemNames {
		perms, ok := System(name)
		if !ok || len(perms) == 0 {
			t.Errorf("%s has no permissions", name)
		}
		if got := Normalize(strs(perms)); !slices.Equal(got, perms) {
			t.Errorf("%s is not in vocabulary order: %v", name, perms)
		}
	}
	if _, ok := System("admin"); ok {
		t.Error("System(admin) found a role: system roles are spelled exactly")
	}
	// A copy: a caller cannot change what Admin means.
	admin[0] = "x"
	if again, _ := System(Admin); again[0] == "x" {
		t.Error("System returned the shared slice")
	}
}

func strs(ps []Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func TestNormalize(t *testing.T) {
	got := Normalize([]string{"users.manage", "reports.read", "nope", "reports.read", "Reports.Write"})
	if want := []Permission{ReportsRead, UsersManage}; !slices.Equal(got, want) {
		t.Errorf("Normalize = %v, want %v (deduplicated, ordered, unknown dropped)", got, want)
	}
	if Join(got) != "reports.read,users.manage" || Join(nil) != "" {
		t.Errorf("Join = %q", Join(got))
	}
}

func TestVocabulary(t *testing.T) {
	seen := map[Permission]bool{}
	for _, p := range Vocabulary {
		if seen[p.Name] || p.Description == "" || !strings.Contains(string(p.Name), ".") || !Known(string(p.Name)) {
			t.Errorf("bad vocabulary entry %+v", p)
		}
		seen[p.Name] = true
	}
	if Known("reports.delete") || Known("") {
		t.Error("Known accepts a name outside the vocabulary")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"Admin", "Creator", "Member", "Approver", "data-analyst", "r", "0", strings.Repeat("r", 63)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"admin":                 "did you mean Admin?",
		"MEMBER":                "did you mean Member?",
		"Owner":                 "must be a system role (Admin, Creator, Member, Approver) or the name of a DashboardRole",
		"":                      "must be a system role",
		"a.b":                   "lower-case letters, digits and '-'",
		"-a":                    "lower-case",
		strings.Repeat("r", 64): "at most 63",
		"data_analyst":          "lower-case",
		"analyst\n":             "lower-case",
	} {
		if err := CheckName(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// The CRD refuses a spec.role that is neither a system role spelled exactly nor a DashboardRole's
// name, with CEL that lists the system roles itself: it must list SystemNames, no more, no less.
func TestTheCRDListsTheSystemRoles(t *testing.T) {
	b, err := os.ReadFile("../../config/crd/bases/access.dashboardops.io_dashboardusers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := string(b)
	exact := "rule: self in ['" + strings.Join(SystemNames, "', '") + "'] ||"
	lower := "rule: '!(self in [''" + strings.ToLower(strings.Join(SystemNames, "'', ''")) + "''])'"
	for _, want := range []string{exact, lower, "must be a system role (" + SystemPhrase() + ")"} {
		if !strings.Contains(crd, want) {
			t.Errorf("the CRD's spec.role rules lack %s", want)
		}
	}
}

func TestSystemPhrase(t *testing.T) {
	if got, want := SystemPhrase(), "Admin, Creator, Member or Approver"; got != want {
		t.Errorf("SystemPhrase() = %q, want %q", got, want)
	}
}
