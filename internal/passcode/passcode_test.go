package passcode

import (
	"strings"
	"testing"
)

func TestGenerateIsWellFormedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := Generate()
		if !WellFormed(p) {
			t.Fatalf("Generate made %q, which is not well formed", p)
		}
		if seen[p] {
			t.Fatalf("Generate repeated %q", p)
		}
		seen[p] = true
	}
}

func TestGenerateCarries128BitsOrMore(t *testing.T) {
	body := strings.TrimPrefix(Generate(), Prefix)
	if bits := len(body) * 5; bits < 128 { // base32: 5 bits a character
		t.Fatalf("only %d bits", bits)
	}
}

func TestHash(t *testing.T) {
	// Known answer from FIPS 180-2: sha256("abc").
	h := Hash("abc")
	if h != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", h)
	}
	p := Generate()
	if strings.Contains(Hash(p), strings.TrimPrefix(p, Prefix)) {
		t.Fatal("the hash must not contain the passcode")
	}
}

func TestMatches(t *testing.T) {
	p := Generate()
	if !Matches(p, Hash(p)) {
		t.Fatal("a passcode must match its own hash")
	}
	cases := []string{Generate(), "", p + "x", strings.ToLower(p), p[:len(p)-1]}
	for _, other := range cases {
		if Matches(other, Hash(p)) {
			t.Fatalf("%q matched the hash of another passcode", other)
		}
	}
	if Matches(p, "") || Matches(p, "sha256:") || Matches(p, Hash(p)[:20]) {
		t.Fatal("a passcode must not match an empty or truncated hash")
	}
}

func TestWellFormed(t *testing.T) {
	for _, s := range []string{"", "dpc_", "DPC_AAAAAAAAAAAAAAAAAAAAAAAAAA", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAA",
		"dpc_AAAAAAAAAAAAAAAAAAAAAAAAAAA", "dpc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "dpc_AAAAAAAAAAAAAAAAAAAAAAAAA1",
		"xyz_AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if WellFormed(s) {
			t.Errorf("WellFormed(%q) = true", s)
		}
	}
	if !WellFormed("dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ") || !WellFormed("dpc_23456723456723456723456723") {
		t.Error("valid passcodes refused")
	}
}

// FuzzMatches: no input panics, and only the passcode itself matches its hash.
func FuzzMatches(f *testing.F) {
	f.Add("dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		_ = WellFormed(a)
		if Matches(a, Hash(b)) != (a == b) {
			t.Fatalf("Matches(%q, Hash(%q)) wrong", a, b)
		}
	})
}

func TestImportedPasscodes(t *testing.T) {
	ok := []string{strings.Repeat("a", 22), "Ab3-_" + strings.Repeat("Z", 17), strings.Repeat("9", 256), Generate()}
	for _, s := range ok {
		if err := CheckImport(s); err != nil || !Plausible(s) {
			t.Errorf("%q: CheckImport %v, Plausible %v", s, err, Plausible(s))
		}
	}
	bad := map[string]string{
		strings.Repeat("a", 21):         "fewer than 22",
		strings.Repeat("a", 257):        "more than 256",
		strings.Repeat("a", 21) + "=":   "other than A-Z",
		strings.Repeat("a", 21) + " ":   "other than A-Z",
		strings.Repeat("a", 21) + "é":   "other than A-Z",
		"hunter2hunter2hunter2hunter2!": "other than A-Z",
	}
	for s, want := range bad {
		err := CheckImport(s)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), s) {
			t.Errorf("%q: got %v, want %q and never the value", s, err, want)
		}
		if Plausible(s) {
			t.Errorf("%q is not plausible", s)
		}
	}
}
