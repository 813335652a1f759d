package users

import (
	"regexp"
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
