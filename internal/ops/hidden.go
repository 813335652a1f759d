package ops

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/dashboardops/access-operator/internal/users"
)

// Visible shows every character users.Hidden reports as an escape (\u202e, \U000e0041), so that
// what is printed or exported reads as it is stored and cannot reorder or hide its neighbours;
// everything else is kept as is. Objects stored before the CRD refused such characters are shown this way.
func Visible(s string) string { return escapeRunes(s, users.Hidden) }

// hiddenFormat is Hidden but for control characters: what the CSV export escapes (a quoted CSV
// cell keeps its newlines and tabs, as a spreadsheet shows them).
func hiddenFormat(r rune) bool { return users.Hidden(r) && !unicode.IsControl(r) }

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
