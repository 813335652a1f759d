package ops

import (
	"fmt"
	"strings"
	"unicode"
)

// The zero-width non-joiner and joiner: the only format characters (\p{Cf}) a display name may
// hold. Persian and Indic scripts need them to spell names, emoji sequences (👩‍💻) are joined with
// U+200D, and neither can reorder or hide the text around it.
const (
	zeroWidthNonJoiner = '\u200c'
	zeroWidthJoiner    = '\u200d'
)

// Hidden reports whether r is a character that free text (display names, role descriptions) may
// not hold and that output never shows raw: a control character (\p{Cc}: newlines, tabs, ANSI
// escapes) or an invisible format character (\p{Cf}: the bidirectional overrides and isolates
// U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C, zero-width spaces, soft
// hyphens, tag characters), except the two joiners above. A right-to-left override makes
// "jane\u202emoc.elpmaxe" read as another name in a table, a terminal, a spreadsheet or a browser.
// The CRD's rules on spec.displayName and spec.description say the same in CEL.
func Hidden(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	return unicode.Is(unicode.Cf, r) && r != zeroWidthNonJoiner && r != zeroWidthJoiner
}

// FirstHidden is the first Hidden character of s and true, or 0 and false.
func FirstHidden(s string) (rune, bool) {
	if i := strings.IndexFunc(s, Hidden); i >= 0 {
		for _, r := range s[i:] {
			return r, true
		}
	}
	return 0, false
}

// hiddenProblem says why s is refused, naming its first Hidden character, or "" when it has none.
func hiddenProblem(s string) string {
	r, ok := FirstHidden(s)
	switch {
	case !ok:
		return ""
	case unicode.IsControl(r):
		return "must not contain control characters (newlines, tabs, escape sequences)"
	default:
		return fmt.Sprintf("must not contain invisible format characters such as %U (Unicode category Cf, e.g. the right-to-left "+
			"override U+202E); only the zero-width joiners U+200C and U+200D are allowed", r)
	}
}

// HiddenProblem is the CRD's refusal of a display name or description holding a Hidden
// character, for callers outside this package (SCIM), or "" when s has none.
func HiddenProblem(s string) string { return hiddenProblem(s) }

// Visible shows every Hidden character of s as an escape (\u202e, \U000e0041), so that what is
// printed or exported reads as it is stored and cannot reorder or hide its neighbours; everything
// else is kept as is. Objects stored before the CRD refused such characters are shown this way.
func Visible(s string) string { return escapeRunes(s, Hidden) }

// hiddenFormat is Hidden but for control characters: what the CSV export escapes (a quoted CSV
// cell keeps its newlines and tabs, as a spreadsheet shows them).
func hiddenFormat(r rune) bool { return Hidden(r) && !unicode.IsControl(r) }

// escapeRunes shows every rune of s that escape reports as \uXXXX (\UXXXXXXXX beyond the BMP).
func escapeRunes(s string, escape func(rune) bool) string {
	if !strings.ContainsFunc(s, escape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !escape(r):
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, "\\U%08x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}
