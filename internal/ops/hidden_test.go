package ops

import (
	"strings"
	"testing"

	"github.com/dashboardops/access-operator/internal/users"
)

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"Jane Doe":                          "Jane Doe",
		"jane\u202emoc.elpmaxe":             `jane\u202emoc.elpmaxe`,
		"\u2066a\u2069 \u200eb\u200f":       `\u2066a\u2069 \u200eb\u200f`,
		"\x1b[31mred\u0085":                 `\u001b[31mred\u0085`,
		"tag\U000e0041":                     `tag\U000e0041`,
		"👩\u200d💻 \u0645\u06cc\u200c\u062e": "👩\u200d💻 \u0645\u06cc\u200c\u062e", // joiners are kept
	} {
		if got := Visible(in); got != want {
			t.Errorf("Visible(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsFunc(Visible(in), users.Hidden) {
			t.Errorf("Visible(%q) still holds a hidden character", in)
		}
	}
}

// TestCSVCellEscapesFormatCharacters: the export shows a right-to-left override escaped, as the
// tables do, and still neutralises a formula.
func TestCSVCellEscapesFormatCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"jane\u202emoc.elpmaxe": `jane\u202emoc.elpmaxe`,
		"=1+1\u202e":            `'=1+1\u202e`,
		"\u202e=1+1":            `\u202e=1+1`,
		"Jane":                  "Jane",
		"Jane\nDoe":             "Jane\nDoe", // a quoted CSV cell keeps its newline
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDisplayNameProblemsNameTheCharacter(t *testing.T) {
	got := strings.Join(displayNameProblems("jane\u202emoc.elpmaxe"), "; ")
	if !strings.Contains(got, "U+202E") || !strings.Contains(got, "invisible format characters") {
		t.Errorf("displayNameProblems = %q", got)
	}
	if p := displayNameProblems("👩\u200d💻"); len(p) != 0 {
		t.Errorf("a joined emoji refused: %v", p)
	}
	if err := ValidateRoleDescription("reads\u2067 reports"); err == nil || !strings.Contains(err.Error(), "U+2067") {
		t.Errorf("ValidateRoleDescription = %v", err)
	}
}
