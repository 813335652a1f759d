package users

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

// HiddenProblem is the CRD's refusal of a display name or description holding a Hidden character,
// naming the first one, or "" when s has none.
func HiddenProblem(s string) string {
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
