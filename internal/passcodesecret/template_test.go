package passcodesecret

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
)

func templatedPasscode(data map[string]accessv1alpha1.DataTemplate) *accessv1alpha1.Passcode {
	pc := activePasscode()
	pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Type: "kubernetes.io/basic-auth", Data: data}
	return pc
}

func TestDataRendersTemplatesBesideTheFourKeys(t *testing.T) {
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{
		"username": "{{ .Email }}",
		"password": "{{ .Passcode }}",
		"API_KEY":  "Bearer {{ .Passcode }}",
		"netrc":    "machine dashboard.example.com login {{ .Email }} password {{ .Passcode }}\n",
		"config":   `{"account": {{ toJson .Account }}, "auth": "{{ printf "%s:%s" .Email .Passcode | b64enc }}", "until": "{{ .ExpiresAt }}"}`,
	})
	c := Contents{Passcode: "dpc_secret", Email: "jane@example.com", ExpiresAt: t0.Add(time.Hour), Revision: 2}
	data, err := Data(pc, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"passcode": "dpc_secret", "email": "jane@example.com", "account": "team", "expiresAt": t0.Add(time.Hour).UTC().Format(time.RFC3339),
		"username": "jane@example.com", "password": "dpc_secret", "API_KEY": "Bearer dpc_secret",
		"netrc":  "machine dashboard.example.com login jane@example.com password dpc_secret\n",
		"config": `{"account": "team", "auth": "amFuZUBleGFtcGxlLmNvbTpkcGNfc2VjcmV0", "until": "` + t0.Add(time.Hour).UTC().Format(time.RFC3339) + `"}`,
	}
	if len(data) != len(want) {
		t.Errorf("keys %d, want %d: %v", len(data), len(want), data)
	}
	for k, v := range want {
		if string(data[k]) != v {
			t.Errorf("%s = %q, want %q", k, data[k], v)
		}
	}
	if SecretType(pc) != corev1.SecretTypeBasicAuth {
		t.Errorf("type %q", SecretType(pc))
	}
}

func TestWipedSecretRendersNoPasscode(t *testing.T) {
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{
		"API_KEY": "Bearer {{ .Passcode }}",
		"prefix":  "{{ slice .Passcode 0 4 }}", // fails without a passcode: the key goes, the wipe does not wait
		"user":    "{{ .Email }}",
	})
	data, err := Data(pc, Contents{Email: "jane@example.com", Revision: 2})
	if err != nil {
		t.Fatal(err)
	}
	if string(data["API_KEY"]) != "Bearer " || string(data["user"]) != "jane@example.com" {
		t.Errorf("rendered %q", data)
	}
	if _, ok := data["prefix"]; ok {
		t.Errorf("a key whose template needs the passcode must go with it: %q", data["prefix"])
	}
	if _, ok := data[KeyPasscode]; ok {
		t.Error("the passcode key stays after the wipe")
	}
}

func TestCheckTemplateNamesTheKeyAndTheProblem(t *testing.T) {
	for text, want := range map[accessv1alpha1.DataTemplate]string{
		"{{ .Passcode ":                   "spec.secretTemplate.data[k]: template: k:1: unclosed action",
		"{{ .Password }}":                 "spec.secretTemplate.data[k]: templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt",
		"{{ sha256 .Passcode }}":          `spec.secretTemplate.data[k]: template: k:1: function "sha256" not defined`,
		"{{ range 100000000 }}x{{ end }}": "spec.secretTemplate.data[k]: templates may not use range, define, template, block, break or continue: templates may use only",
		"{{ slice .Passcode 100 }}":       "spec.secretTemplate.data[k]: template: k:1:3: executing \"k\" at <slice .Passcode 100>: error calling slice: index out of range: 100",
	} {
		err := CheckTemplate(&accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"k": text}})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: got %v, want prefix %q", text, err, want)
		}
	}
	if err := CheckTemplate(&accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"k": "{{ .Passcode }}"}}); err != nil {
		t.Errorf("a good template: %v", err)
	}
}

// A template that passes the check with stand-in values but fails with the real passcode reports
// the key and never the template's error, which could quote the passcode.
func TestTemplateErrorWithholdsThePasscode(t *testing.T) {
	const value = "dpc_short"
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{"k": "{{ slice .Passcode 30 40 }}"})
	if err := CheckTemplate(pc.Spec.SecretTemplate); err != nil {
		t.Fatalf("passes with the stand-in: %v", err)
	}
	_, err := Data(pc, Contents{Passcode: value, Email: "jane@example.com"})
	if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), "spec.secretTemplate.data[k]") || strings.Contains(err.Error(), value) {
		t.Fatalf("got %v", err)
	}
}

func TestTemplateChangeIsDriftNotTamper(t *testing.T) {
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{"API_KEY": "{{ .Passcode }}"})
	pc.Status.Revision, pc.Status.Hash = 2, passcode.Hash("new") // what written() holds
	s := written(FieldManager, "Apply")
	s.Type = corev1.SecretTypeBasicAuth
	s.Data = mustData(pc, Current(pc, "", s))
	if got := Classify(s, pc); got != InSync {
		t.Fatalf("as written: %v", got)
	}
	s.Data["API_KEY"] = []byte("edited")
	if got := Classify(s, pc); got != Drifted {
		t.Errorf("an edited templated key: %v, want Drifted (restored without a new passcode)", got)
	}
	pc.Spec.SecretTemplate.Data["API_KEY"] = "Bearer {{ .Passcode }}"
	s.Data = mustData(pc, Current(pc, "", s))
	pc.Spec.SecretTemplate.Data["API_KEY"] = "Token {{ .Passcode }}"
	if got := Classify(s, pc); got != Drifted {
		t.Errorf("a changed template: %v, want Drifted", got)
	}
}
