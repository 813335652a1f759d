package ops

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The CRD's two CEL rules on spec.displayName and spec.description, verbatim (CEL runs Go's RE2).
var (
	crdControl = regexp.MustCompile(`\p{Cc}`)
	crdFormat  = regexp.MustCompile(`[^\P{Cf}\x{200C}\x{200D}]`)
)

// TestHiddenIsTheCRDsRule: for every code point, Hidden refuses exactly what the CRD refuses, so
// the plugin, SCIM and the escaper never disagree with the API server.
func TestHiddenIsTheCRDsRule(t *testing.T) {
	refused := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // surrogates are not characters
		}
		s := string(r)
		crd := crdControl.MatchString(s) || crdFormat.MatchString(s)
		if Hidden(r) != crd {
			t.Errorf("%U: Hidden says %v, the CRD's rules say %v", r, Hidden(r), crd)
		}
		if crd {
			refused++
		}
	}
	t.Logf("%d code points refused", refused)
	for _, r := range []rune{'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'} {
		if !Hidden(r) {
			t.Errorf("the bidirectional control %U is not Hidden", r)
		}
	}
	for _, r := range []rune{'\u200c', '\u200d', 'é', '🚀', ' ', 'م'} {
		if Hidden(r) {
			t.Errorf("%U is Hidden", r)
		}
	}
}

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
		if strings.ContainsFunc(Visible(in), Hidden) {
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
