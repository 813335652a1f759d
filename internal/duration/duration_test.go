package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * Day, true},
		{"12h", 12 * time.Hour, true},
		{"45m", 45 * time.Minute, true},
		{"1m", time.Minute, true},
		{"0m", 0, true},
		{"0d", 0, true},
		{"365d", 365 * Day, true},
		{"99999d", 99999 * Day, true},
		{"999999h", 999999 * time.Hour, true},
		{"999999d", 0, false},  // beyond time.Duration
		{"1000000d", 0, false}, // seven digits
		{"", 0, false},
		{"d", 0, false},
		{"5", 0, false},
		{"05m", 0, false}, // leading zero
		{"00m", 0, false},
		{"-5m", 0, false},
		{"+5m", 0, false},
		{"5s", 0, false},
		{"5M", 0, false}, // units are lower case
		{"5D", 0, false},
		{"1.5h", 0, false},
		{"1h30m", 0, false},
		{" 5m", 0, false},
		{"5m ", 0, false},
		{"5 m", 0, false},
		{"٣m", 0, false}, // non-ASCII digit
		{"5mm", 0, false},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if !c.ok && err == nil {
			t.Errorf("Parse(%q) = %v, %v; want ErrFormat", c.in, got, err)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := map[time.Duration]string{
		0:                              "0m",
		time.Minute:                    "1m",
		90 * time.Minute:               "90m",
		36 * time.Hour:                 "36h",
		24 * time.Hour:                 "1d",
		30 * Day:                       "30d",
		time.Minute + 59*time.Second:   "1m", // rounded down
		365*Day + 0*time.Hour:          "365d",
		25*time.Hour + 30*time.Second:  "25h",
		1441*time.Minute + time.Second: "1441m",
	}
	for in, want := range cases {
		if got := Format(in); got != want {
			t.Errorf("Format(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestBounds(t *testing.T) {
	cases := []struct {
		name string
		f    func(string) (time.Duration, error)
		in   string
		ok   bool
	}{
		{"tenure min", Tenure, "1m", true},
		{"tenure zero", Tenure, "0m", false},
		{"tenure max", Tenure, "365d", true},
		{"tenure over", Tenure, "366d", false},
		{"tenure over in hours", Tenure, "8761h", false},
		{"tenure max in hours", Tenure, "8760h", true},
		{"tenure max in minutes", Tenure, "525600m", true},
		{"tenure over in minutes", Tenure, "525601m", false},
		{"grace zero", GracePeriod, "0m", true},
		{"grace empty", GracePeriod, "", true},
		{"grace max", GracePeriod, "24h", true},
		{"grace 1d", GracePeriod, "1d", true},
		{"grace over", GracePeriod, "1441m", false},
		{"ttl empty is 7d", InviteTTL, "", true},
		{"ttl max", InviteTTL, "30d", true},
		{"ttl over", InviteTTL, "31d", false},
		{"ttl zero", InviteTTL, "0h", false},
	}
	for _, c := range cases {
		_, err := c.f(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%s: %q gave err=%v, want ok=%v", c.name, c.in, err, c.ok)
		}
	}
}

func TestRenewBefore(t *testing.T) {
	cases := []struct {
		in     string
		tenure time.Duration
		want   time.Duration
		ok     bool
	}{
		{"", 30 * Day, 10 * Day, true},
		{"", time.Minute, 20 * time.Second, true},
		{"10d", 30 * Day, 10 * Day, true},
		{"30d", 30 * Day, 0, false}, // not shorter
		{"31d", 30 * Day, 0, false},
		{"0m", 30 * Day, 0, false}, // below 1m
		{"1m", time.Minute, 0, false},
		{"59m", time.Hour, 59 * time.Minute, true},
		{"x", time.Hour, 0, false},
	}
	for _, c := range cases {
		got, err := RenewBefore(c.in, c.tenure)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("RenewBefore(%q, %v) = %v, %v; want %v ok=%v", c.in, c.tenure, got, err, c.want, c.ok)
		}
	}
	if DefaultRenewBefore(time.Minute) >= time.Minute {
		t.Errorf("default renewBefore must stay shorter than the tenure")
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, s := range []string{"1m", "59m", "1h", "23h", "1d", "30d", "365d", "90m", "36h"} {
		d, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Format(d); got != s && got != canonical(s) {
			t.Errorf("Format(Parse(%q)) = %q", s, got)
		}
	}
}

// canonical is the largest-unit spelling Format produces (e.g. 24h -> 1d).
func canonical(s string) string { d, _ := Parse(s); return Format(d) }

// FuzzParse checks that Parse never panics, accepts only its grammar, and that every accepted value
// round-trips through Format to the same duration.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30d", "12h", "45m", "0m", "", "05m", "-1d", "999999d", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if !matchesGrammar(s) {
			t.Fatalf("Parse accepted %q outside the grammar", s)
		}
		if d < 0 {
			t.Fatalf("Parse(%q) is negative: %v", s, d)
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, d, Format(d), back, err)
		}
	})
}

// matchesGrammar is ^(0|[1-9][0-9]{0,5})[mhd]$ written out by hand, independent of Parse.
func matchesGrammar(s string) bool {
	if len(s) < 2 || len(s) > 7 {
		return false
	}
	switch s[len(s)-1] {
	case 'd', 'h', 'm':
	default:
		return false
	}
	digits := s[:len(s)-1]
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return digits == "0" || digits[0] != '0'
}
