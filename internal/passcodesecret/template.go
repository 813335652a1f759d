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

// CheckTemplate parses and bounds every spec.secretTemplate.data template (compileAll) and renders
// it once with stand-in values, so that a template that cannot work, or that could cost more than
// its budget, is reported (and the Passcode stalled) before any passcode goes through it. The CRD
// refuses at apply what CEL can see (unknown fields, range, variables, printf widths); parse
// errors, unknown functions and budgets are only found here.
func CheckTemplate(t *accessv1alpha1.SecretTemplate) error {
	if t == nil {
		return nil
	}
	compiled, err := compileAll(t.Data)
	if err != nil {
		return err
	}
	standIn := TemplateFields{
		Passcode: "dpc_" + strings.Repeat("x", 40), Email: "user@example.com", Account: "account",
		ExpiresAt: time.Unix(0, 0).UTC().Format(time.RFC3339),
	}
	for _, key := range sortedKeys(compiled) {
		if _, err := execute(compiled[key], standIn); err != nil {
			return fmt.Errorf("spec.secretTemplate.data[%s]: %w", key, err)
		}
	}
	return nil
}

// compileAll compiles every template of data (compile) and checks what they may cost together.
func compileAll(data map[string]accessv1alpha1.DataTemplate) (map[string]*template.Template, error) {
	compiled := make(map[string]*template.Template, len(data))
	total := 0
	for _, key := range sortedKeys(data) {
		tmpl, cost, err := compile(key, string(data[key]))
		if err != nil {
			return nil, fmt.Errorf("spec.secretTemplate.data[%s]: %w", key, err)
		}
		compiled[key], total = tmpl, total+cost
	}
	if total > maxSecretCost {
		return nil, fmt.Errorf("spec.secretTemplate.data: the templates together may build up to %s%s, more than the %d KiB a Secret may use",
			size(total), withLongest, maxSecretCost>>10)
	}
	return compiled, nil
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
	compiled, err := compileAll(t.Data)
	switch {
	case err != nil && c.Passcode == "":
		return nil, nil // a wipe never waits for a template
	case err != nil:
		return nil, err // about the template's text only, never the values
	}
	out := make(map[string][]byte, len(compiled))
	for key, tmpl := range compiled {
		v, err := execute(tmpl, fields)
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

// execute runs a compiled template. Fields longer than fieldMax would void its bounds: refused.
func execute(tmpl *template.Template, fields TemplateFields) ([]byte, error) {
	for name, v := range map[string]string{"Passcode": fields.Passcode, "Email": fields.Email, "Account": fields.Account, "ExpiresAt": fields.ExpiresAt} {
		if len(v) > fieldMax[name] {
			return nil, fmt.Errorf(".%s is longer than the %d bytes templates are bounded for", name, fieldMax[name])
		}
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
