// Package duration parses the durations of the access.dashboardops.io API: a whole number followed
// by d (days), h (hours) or m (minutes), such as 30d, 12h or 45m.
//
// The grammar is deliberately smaller than time.ParseDuration's: one unit, no fractions, no signs,
// no leading zeros, at most six digits. The CRD's CEL rules (api/v1alpha1) accept exactly the same
// strings, so a value the API server admitted always parses here; a test holds the two together.
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Day is 24 hours: the API's d unit ignores daylight saving, like every deadline in status.
const Day = 24 * time.Hour

// Bounds of the API's durations. They are mirrored in the CRD's CEL rules.
const (
	MinTenure      = time.Minute
	MaxTenure      = 365 * Day
	MinRenewBefore = time.Minute
	MaxGracePeriod = 24 * time.Hour
	MinInviteTTL   = time.Minute
	MaxInviteTTL   = 30 * Day
	DefaultTTL     = 7 * Day
	// DashboardPolicy: inactivity is counted in days; warnings go out up to 90d ahead.
	MinInactivity     = Day
	MaxInactivity     = 3650 * Day
	MaxWarnBefore     = 90 * Day
	DefaultWarnBefore = 7 * Day
)

// maxDigits keeps every value well inside int64 minutes (999999d) and matches the CEL pattern.
const maxDigits = 6

// ErrFormat is returned for strings outside the grammar.
var ErrFormat = errors.New("must be a whole number followed by d, h or m, e.g. 30d, 12h or 45m")

// Parse reads "30d", "12h", "45m" or "0m". It returns ErrFormat (wrapped) for anything else.
func Parse(s string) (time.Duration, error) {
	n := len(s)
	if n < 2 || n > maxDigits+1 {
		return 0, fmt.Errorf("%q %w", s, ErrFormat)
	}
	digits, unit := s[:n-1], s[n-1]
	if digits[0] == '0' && len(digits) > 1 {
		return 0, fmt.Errorf("%q %w", s, ErrFormat)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q %w", s, ErrFormat)
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q %w", s, ErrFormat)
	}
	var unitLen time.Duration
	switch unit {
	case 'd':
		unitLen = Day
	case 'h':
		unitLen = time.Hour
	case 'm':
		unitLen = time.Minute
	default:
		return 0, fmt.Errorf("%q %w", s, ErrFormat)
	}
	// time.Duration ends near 106751d; the API's bounds are far below, but the parser must not wrap.
	if v > int64(math.MaxInt64/unitLen) {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return time.Duration(v) * unitLen, nil
}

// Format writes d in the largest unit that divides it exactly ("30d", "36h", "90m"); d is rounded
// down to whole minutes. Format(Parse(s)) is s for every canonical s.
func Format(d time.Duration) string {
	m := int64(d / time.Minute)
	switch {
	case m == 0:
		return "0m"
	case m%(24*60) == 0:
		return strconv.FormatInt(m/(24*60), 10) + "d"
	case m%60 == 0:
		return strconv.FormatInt(m/60, 10) + "h"
	default:
		return strconv.FormatInt(m, 10) + "m"
	}
}

// InRange parses s and checks min <= value <= max, with a message naming the bounds.
func InRange(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := Parse(s)
	if err != nil {
		return 0, err
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%q must be at least %s and at most %s", s, Format(lo), Format(hi))
	}
	return d, nil
}

// Tenure parses a Passcode's spec.tenure: 1m to 365d.
func Tenure(s string) (time.Duration, error) { return InRange(s, MinTenure, MaxTenure) }

// GracePeriod parses spec.rotation.gracePeriod: 0 to 24h; empty means 0.
func GracePeriod(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return InRange(s, 0, MaxGracePeriod)
}

// RenewBefore parses spec.rotation.renewBefore against its tenure: at least 1m and shorter than the
// tenure. Empty means DefaultRenewBefore(tenure).
func RenewBefore(s string, tenure time.Duration) (time.Duration, error) {
	if s == "" {
		return DefaultRenewBefore(tenure), nil
	}
	d, err := Parse(s)
	if err != nil {
		return 0, err
	}
	if d < MinRenewBefore {
		return 0, fmt.Errorf("%q must be at least %s", s, Format(MinRenewBefore))
	}
	if d >= tenure {
		return 0, fmt.Errorf("%q must be shorter than the tenure (%s)", s, Format(tenure))
	}
	return d, nil
}

// DefaultRenewBefore is a third of the tenure, as cert-manager renews at two thirds of a
// certificate's life. It is exact to the nanosecond, so it is always shorter than the tenure.
func DefaultRenewBefore(tenure time.Duration) time.Duration { return tenure / 3 }

// InviteTTL parses spec.invite.ttl: 1m to 30d; empty means 7d.
func InviteTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTTL, nil
	}
	return InRange(s, MinInviteTTL, MaxInviteTTL)
}

// Inactivity parses a DashboardPolicy's spec.inactivity.revokeUsersAfter or
// revokePasscodesUnusedFor: 1d to 3650d; empty means the rule is off (0).
func Inactivity(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return InRange(s, MinInactivity, MaxInactivity)
}

// WarnBefore parses spec.inactivity.warnBefore: 0 to 90d; empty means 7d.
func WarnBefore(s string) (time.Duration, error) {
	if s == "" {
		return DefaultWarnBefore, nil
	}
	return InRange(s, 0, MaxWarnBefore)
}
