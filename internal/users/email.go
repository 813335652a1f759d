package users

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The API's limits on spec.email and on object names (api/v1alpha1), checked here too so that a
// bad call writes nothing.
const (
	maxEmailLength = 254
	minEmailLength = 3
	maxLocalPart   = 64
	maxDomainLabel = 63 // RFC 1035: a DNS label is at most 63 octets
	// MaxObjectName is a DashboardUser's or DashboardRole's name limit: a DNS-1123 label.
	MaxObjectName     = 63
	nameHashLength    = 8 // hex characters of sha256(email)
	fallbackNameStart = "user"
)

// EmailPattern is the CRD's CEL rule for spec.email, verbatim (a test holds the two together).
var EmailPattern = regexp.MustCompile(`^[a-z0-9_%+-]+([.][a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// nonAlphanumeric is what ObjectNameForEmail turns into '-'.
var nonAlphanumeric = regexp.MustCompile(`[^a-z0-9]+`)

// ValidateEmail applies the CRD's rules for spec.email: lower case, an address such as
// jane@example.com, at most 254 characters, at most 64 before the '@', at most 63 in each label of
// the domain (DNS cannot resolve a longer one, so no invite could ever be delivered). An address in
// upper case is refused with the lower-case one as a hint, as the API server would refuse it.
func ValidateEmail(email string) error {
	if email == "" {
		return errors.New("empty email address")
	}
	if lower := strings.ToLower(email); lower != email {
		return fmt.Errorf("invalid email %q: must be lower case, so that one person is one user (did you mean %q?)", email, lower)
	}
	if len(email) > maxEmailLength {
		return fmt.Errorf("invalid email %q: must be at most %d characters (it has %d)", email, maxEmailLength, len(email))
	}
	if len(email) < minEmailLength || !EmailPattern.MatchString(email) {
		return fmt.Errorf("invalid email %q: must be an email address such as jane@example.com", email)
	}
	if at := strings.IndexByte(email, '@'); at > maxLocalPart {
		return fmt.Errorf("invalid email %q: the part before @ must be at most %d characters (it has %d)", email, maxLocalPart, at)
	}
	if label := longestDomainLabel(email); len(label) > maxDomainLabel {
		return fmt.Errorf("invalid email %q: each part of the domain between dots must be at most %d characters (%q has %d)",
			email, maxDomainLabel, label, len(label))
	}
	return nil
}

// longestDomainLabel is the longest dot-separated label after the '@' (the CRD's rule
// !self.matches('@[^@]*[^.@]{64}') refuses the same addresses).
func longestDomainLabel(email string) string {
	longest := ""
	for _, label := range strings.Split(email[strings.LastIndexByte(email, '@')+1:], ".") {
		if len(label) > len(longest) {
			longest = label
		}
	}
	return longest
}

// ObjectNameForEmail derives a DashboardUser's object name from its (valid, lower-case) email,
// deterministically: the address with every run of characters other than [a-z0-9] turned into '-',
// trimmed and cut so that the whole name fits a DNS-1123 label (63 characters), then '-' and the
// first 8 hex characters of sha256(email). The hash keeps addresses that read the same apart
// (a.b@x.io and a-b@x.io).
func ObjectNameForEmail(email string) string {
	sum := sha256.Sum256([]byte(email))
	suffix := hex.EncodeToString(sum[:])[:nameHashLength]
	prefix := strings.Trim(nonAlphanumeric.ReplaceAllString(strings.ToLower(email), "-"), "-")
	if maxPrefix := MaxObjectName - 1 - nameHashLength; len(prefix) > maxPrefix {
		prefix = strings.TrimRight(prefix[:maxPrefix], "-")
	}
	if prefix == "" {
		prefix = fallbackNameStart
	}
	return prefix + "-" + suffix
}
