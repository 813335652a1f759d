package passcodesecret

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// maxRenderedKey bounds one rendered key: a template can loop ({{ range 1000000000 }}), and the
// manager must not build a gigabyte to find out the API server refuses it (1 MiB per Secret).
const maxRenderedKey = 64 << 10

// TemplateFields are what a spec.secretTemplate.data template can use.
type TemplateFields struct {
	Passcode  string
	Email     string
	Account   string
	ExpiresAt string // RFC 3339, UTC; empty once expired or revoked
}

// templateFuncs are the functions templates may call besides text/template's own: enough to build
// a basic-auth header, a .netrc or a JSON config without quoting mistakes.
var templateFuncs = template.FuncMap{
	"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"toJson": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// SecretType is the type of the Secret of pc: spec.secretTemplate.type, else Opaque.
func SecretType(pc *accessv1alpha1.Passcode) corev1.SecretType {
	if t := pc.Spec.SecretTemplate; t != nil && t.Type != "" {
		return corev1.SecretType(t.Type)
	}
	return corev1.SecretTypeOpaque
}

// CheckTemplate parses every spec.secretTemplate.data template and renders it once with stand-in
// values, so that a template that cannot work is reported (and the Passcode stalled) before any
// passcode goes through it. The CRD already refuses unknown fields at apply; parse errors and
// unknown functions are only found here.
func CheckTemplate(t *accessv1alpha1.SecretTemplate) error {
	if t == nil {
		return nil
	}
	standIn := TemplateFields{
		Passcode: "dpc_" + strings.Repeat("x", 40), Email: "user@example.com", Account: "account",
		ExpiresAt: time.Unix(0, 0).UTC().Format(time.RFC3339),
	}
	for _, key := range sortedKeys(t.Data) {
		if _, err := renderKey(key, string(t.Data[key]), standIn); err != nil {
			return fmt.Errorf("spec.secretTemplate.data[%s]: %w", key, err)
		}
	}
	return nil
}

// ErrTemplate is returned when a template that passed CheckTemplate fails with the real values.
// The template's own error is not kept: it could quote the passcode.
var ErrTemplate = errors.New("a spec.secretTemplate.data template failed with the passcode's values (its error is withheld, it may contain the passcode)")

// templated renders the spec.secretTemplate.data keys for the Secret holding c.
func templated(pc *accessv1alpha1.Passcode, c Contents) (map[string][]byte, error) {
	t := pc.Spec.SecretTemplate
	if t == nil || len(t.Data) == 0 {
		return nil, nil
	}
	fields := TemplateFields{Passcode: c.Passcode, Email: c.Email, Account: pc.Namespace}
	if !c.ExpiresAt.IsZero() {
		fields.ExpiresAt = c.ExpiresAt.UTC().Format(time.RFC3339)
	}
	out := make(map[string][]byte, len(t.Data))
	for key, text := range t.Data {
		v, err := renderKey(key, string(text), fields)
		switch {
		case err != nil && c.Passcode == "":
			continue // a wipe never waits for a template: the key goes with the passcode
		case err != nil:
			return nil, fmt.Errorf("spec.secretTemplate.data[%s]: %w", key, ErrTemplate)
		}
		out[key] = v
	}
	return out, nil
}

func renderKey(key, text string, fields TemplateFields) ([]byte, error) {
	tmpl, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, err
	}
	w := &limitedBuffer{max: maxRenderedKey}
	if err := tmpl.Execute(w, fields); err != nil {
		if errors.Is(err, errTooLong) {
			return nil, errTooLong
		}
		return nil, err
	}
	return w.buf, nil
}

var errTooLong = fmt.Errorf("renders to more than %d KiB", maxRenderedKey>>10)

// limitedBuffer stops a template's execution once it wrote max bytes.
type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > b.max {
		return 0, errTooLong
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
