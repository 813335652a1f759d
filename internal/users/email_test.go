package users

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dns1123Label is Kubernetes' rule for a label (and so for most object names).
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		email string
		want  string // "" = valid, else a substring of the error
	}{
		{"jane@example.com", ""},
		{"jane.doe+tag@mail.example.co.uk", ""},
		{"a_b%c-d@x-y.io", ""},
		{strings.Repeat("a", 64) + "@example.com", ""},
		{"", "empty"},
		{"Jane@example.com", `must be lower case, so that one person is one user (did you mean "jane@example.com"?)`},
		{"jane@EXAMPLE.COM", "must be lower case"},
		{"jane.example.com", "must be an email address"},
		{"jane@", "must be an email address"},
		{"@example.com", "must be an email address"},
		{"jane@localhost", "must be an email address"},
		{"jane doe@example.com", "must be an email address"},
		{"jane@-example.com", "must be an email address"},
		{"jane@example-.com", "must be an email address"},
		{"jane@doe@example.com", "must be an email address"},
		{"jané@example.com", "must be an email address"},
		{"a@", "must be an email address"},
		{strings.Repeat("a", 65) + "@example.com", "the part before @ must be at most 64 characters (it has 65)"},
		{strings.Repeat("a", 60) + "@" + strings.Repeat("b", 190) + ".com", "at most 254 characters (it has 255)"},
		{"a@" + strings.Repeat("b", 63) + ".io", ""},
		{"a@" + strings.Repeat("b", 64) + ".io", "each part of the domain between dots must be at most 63 characters"},
		{"a@x." + strings.Repeat("b", 64), "(\"" + strings.Repeat("b", 64) + "\" has 64)"},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			err := ValidateEmail(tt.email)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateEmail(%q) = %v, want nil", tt.email, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateEmail(%q) = %v, want an error containing %q", tt.email, err, tt.want)
			}
		})
	}
}

func TestObjectNameForEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) + ".io"
	if ValidateEmail(long) != nil || len(long) != 254 {
		t.Fatalf("test email must be valid and 254 characters long, got %d: %v", len(long), ValidateEmail(long))
	}
	cases := []string{
		"jane@example.com", "a.b@x.io", "a-b@x.io", "a_b@x.io", "a--b@x.io", long,
		strings.Repeat("x", 53) + ".@example.com", // cut right after a '-'
		"...@x.io", "+@x.io", "1@2.io",
	}
	seen := map[string]string{}
	for _, email := range cases {
		name := ObjectNameForEmail(email)
		if name != ObjectNameForEmail(email) {
			t.Errorf("%s: not deterministic", email)
		}
		if !dns1123Label.MatchString(name) || len(name) > 63 {
			t.Errorf("%s: %q is not a DNS-1123 label of at most 63 characters", email, name)
		}
		if strings.Contains(name, "--") {
			t.Errorf("%s: %q has a run of '-'", email, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s both give %q", email, other, name)
		}
		seen[name] = email
	}
	// Stable names are part of the contract (re-running invite finds the same objects): the
	// suffixes are the first 8 hex characters of `printf %s EMAIL | sha256sum`.
	for email, want := range map[string]string{
		"jane@example.com": "jane-example-com-8c87b489",
		"a.b@x.io":         "a-b-x-io-653cd779",
		"a-b@x.io":         "a-b-x-io-cd24ec43",
	} {
		if got := ObjectNameForEmail(email); got != want {
			t.Errorf("ObjectNameForEmail(%q) = %q, want %q", email, got, want)
		}
	}
	if got := ObjectNameForEmail(long); len(got) != 63 {
		t.Errorf("a 254-character email gives %q (%d characters), want 63", got, len(got))
	}
	if got := ObjectNameForEmail("...@x.io"); !strings.HasPrefix(got, "x-io-") {
		t.Errorf("...@x.io gives %q", got)
	}
}

// TestEmailPatternIsTheCRDs keeps ValidateEmail's pattern and the CRD's CEL rule the same, so
// the plugin and SCIM refuse exactly what the API server would.
func TestEmailPatternIsTheCRDs(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "access.dashboardops.io_dashboardusers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(crd), "self.lowerAscii().matches('"+EmailPattern.String()+"')") {
		t.Fatalf("the CRD's email rule is not %s", EmailPattern)
	}
}
