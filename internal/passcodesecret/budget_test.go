package passcodesecret

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"text/template"
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Bombs are templates that cost far more than they write (issue 22, item 1). The doubling
// counts are what the issue measured (28 doublings build 1 GiB); the tests never run them.
var bombs = map[string]struct{ text, want string }{
	"range":              {"{{range 1000000000000}}{{end}}", "templates may not use range"},
	"range over a value": {"{{range $i, $c := .Passcode}}{{end}}", "templates may not use range"},
	"variable doubling": {`{{$x := "aaaa"}}` + strings.Repeat(`{{$x = printf "%s%s" $x $x}}`, 28),
		"templates may not declare or assign variables"},
	"dollar doubling": {`{{$ = "aaaa"}}` + strings.Repeat(`{{$ = printf "%s%s" $ $}}`, 28),
		"templates may not declare or assign variables"},
	"declaration in parentheses": {`{{print (print "a") ($x := "a") $x}}`, "templates may not declare or assign variables"},
	"define recursion":           {`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, "templates may not use range, define, template"},
	"block":                      {`{{block "a" .}}{{.Passcode}}{{end}}`, "templates may not use range, define, template, block"},
	"printf width":               {`{{printf "%0999999999d" 1}}`, "printf formats may not have a width"},
	"printf precision":           {`{{printf "%.999999999f" 1.0}}`, "printf formats may not have a width"},
	"printf star width":          {`{{printf "%*d" 999999999 1}}`, "printf formats may not have a width"},
	"printf verb":                {`{{printf "%e" 1.0}}`, "the printf format uses the verb %e"},
	"printf dynamic format":      {`{{printf .Passcode}}`, "printf with a format that is not a quoted string"},
	"call":                       {`{{call .Passcode}}`, `the function "call" at k:1:2 is not allowed`},
	"nested b64enc": {"{{.Passcode" + strings.Repeat(" | b64enc", 40) + "}}",
		"may render up to 26146952 bytes with the longest values the fields can hold, more than the 64 KiB a key may have"},
	"nested b64enc unprinted": {"{{with .Passcode" + strings.Repeat(" | b64enc", 24) + "}}{{end}}",
		"more than the 256 KiB a key may use"},
	"with doubling": {`{{with printf "%s%s" .Passcode .Passcode}}` + strings.Repeat(`{{with printf "%s%s" . .}}`, 30) + strings.Repeat("{{end}}", 31),
		"more than the 256 KiB a key may use"},
	"many verbs": {"{{with .Email}}{{printf \"" + strings.Repeat("%s", 400) + "\"" + strings.Repeat(" .", 400) + "}}{{end}}",
		"more than the 64 KiB a key may have"},
	"repeated root": {strings.Repeat("{{.}}", 800), "more than the 64 KiB a key may have"},
	"saturated":     {"{{.Passcode" + strings.Repeat(" | toJson", 40) + "}}", "may render up to more than 1 TiB"},
	"too long":      {strings.Repeat("x", maxTemplateChars+1), "has 4097 characters, more than the 4096 allowed"},
}

func TestBombsAreRefusedBeforeTheyRun(t *testing.T) {
	for name, b := range bombs {
		err := CheckTemplate(&accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(b.text)}})
		if err == nil || !strings.HasPrefix(err.Error(), "spec.secretTemplate.data[k]: ") || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want %q", name, err, b.want)
		}
		// Data (the write) refuses it too, whatever the check said.
		if _, err := Data(templatedPasscode(map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(b.text)}),
			Contents{Passcode: "dpc_secret", Email: "jane@example.com"}); err == nil {
			t.Errorf("%s: Data renders it", name)
		}
	}
}

// Each key fits its budget, but together they exceed the Secret's.
func TestTheSecretHasOneBudgetForAllItsKeys(t *testing.T) {
	key := strings.Repeat("{{ toJson .Email }}", 10) // ~6 KB written, ~240 KB of bounds, per key
	data := map[string]accessv1alpha1.DataTemplate{}
	for i := range 4 {
		data[fmt.Sprintf("k%d", i)] = accessv1alpha1.DataTemplate(key)
	}
	if err := CheckTemplate(&accessv1alpha1.SecretTemplate{Data: data}); err != nil {
		t.Fatalf("four keys: %v", err)
	}
	for i := range 16 {
		data[fmt.Sprintf("k%d", i)] = accessv1alpha1.DataTemplate(key)
	}
	err := CheckTemplate(&accessv1alpha1.SecretTemplate{Data: data})
	if err == nil || !strings.HasPrefix(err.Error(), "spec.secretTemplate.data: the templates together may build up to") ||
		!strings.HasSuffix(err.Error(), "more than the 1024 KiB a Secret may use") {
		t.Errorf("sixteen keys: %v", err)
	}
}

// documented are the templates the docs, samples and tests show: each renders exactly as
// text/template alone rendered it before the budget.
var documented = []string{
	"{{ .Email }}", "{{ .Passcode }}", "Bearer {{ .Passcode }}", "Token {{ .Passcode }}", "{{ .Passcode | b64enc }}",
	"machine dashboard.example.com login {{ .Email }} password {{ .Passcode }}\n",
	"machine dashboard login {{ .Email }} password {{ .Passcode }}",
	`{"account": {{ toJson .Account }}, "auth": "{{ printf "%s:%s" .Email .Passcode | b64enc }}", "until": "{{ .ExpiresAt }}"}`,
	`{"auth": "{{ printf "%s:%s" .Email .Passcode | b64enc }}", "account": {{ toJson .Account }}, "until": "{{.ExpiresAt}}"}`,
	"{{ slice .Passcode 0 4 }}", "{{.Email}}", "{{- .Account -}}", "{{ $.Passcode }}", "{{ (.Email) }}",
	`{{ .Email | printf "%s.x" }}`, "{{ if .Passcode }}{{ .Passcode }}{{ end }}", "see .netrc and example.com/.well-known",
	"{{ toJson .Account }}", `{{ printf "%s=%s" .Email .Passcode }}`, `{{ printf "%q %v %d %x %X %t %c %%" .Email .Account 7 .Passcode "k" true 65 }}`,
	"{{ with .Passcode }}{{ . }}:{{ . | b64enc }}{{ else }}none{{ end }}", "{{ if eq .Account \"team\" }}t{{ else if ne .Email \"\" }}e{{ end }}",
	"{{ len .Passcode }} {{ index .Passcode 0 }} {{ and .Email .Passcode }} {{ or .Passcode .Email }} {{ not .Passcode }}",
	"{{ html .Email }} {{ js .Email }} {{ urlquery .Email }} {{ print .Email 1 }} {{ println .Account }}",
	"{{/* a comment */}}{{ lt 1 2 }} {{ le 1 2 }} {{ gt 1 2 }} {{ ge 1 2 }}", "{{ . }}", "{{ toJson $ }}",
}

func TestDocumentedTemplatesRenderAsBefore(t *testing.T) {
	for _, c := range []Contents{
		{Passcode: "dpc_secret", Email: "jane@example.com", ExpiresAt: t0.Add(time.Hour)},
		{Email: "jane@example.com"}, // wiped
		{Passcode: strings.Repeat("p", 256), Email: strings.Repeat("é", 254), ExpiresAt: t0},
	} {
		for _, text := range documented {
			pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(text)})
			if err := CheckTemplate(pc.Spec.SecretTemplate); err != nil {
				t.Errorf("%q: %v", text, err)
				continue
			}
			fields := TemplateFields{Passcode: c.Passcode, Email: c.Email, Account: pc.Namespace}
			if !c.ExpiresAt.IsZero() {
				fields.ExpiresAt = c.ExpiresAt.UTC().Format(time.RFC3339)
			}
			want, wantErr := renderBefore(text, fields)
			data, err := Data(pc, c)
			switch _, rendered := data["k"]; {
			case err != nil:
				t.Errorf("%q: %v", text, err)
			case wantErr != nil && rendered:
				t.Errorf("%q: rendered %q, failed before: %v", text, data["k"], wantErr)
			case wantErr == nil && string(data["k"]) != want:
				t.Errorf("%q: %q, before %q", text, data["k"], want)
			}
		}
	}
}

// renderBefore is the render as it was: text/template alone, with the same functions.
func renderBefore(text string, fields TemplateFields) (string, error) {
	tmpl, err := template.New("k").Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, fields)
	return b.String(), err
}

// maxRenderAlloc bounds the bytes one template's check and render may allocate: its budget
// (maxKeyCost), the parse of at most 4096 characters, and text/template's own bookkeeping. It is
// deterministic and generous; a bomb that gets past the budget builds megabytes to gigabytes.
const maxRenderAlloc = 4 << 20

// renderAlloc is what CheckTemplate and one render of text allocate, with the longest field values.
func renderAlloc(text string) (uint64, error) {
	pc := templatedPasscode(map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(text)})
	c := Contents{Passcode: strings.Repeat("p", 256), Email: strings.Repeat("\u00e9", 254) + strings.Repeat("e", 508), ExpiresAt: t0}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := CheckTemplate(pc.Spec.SecretTemplate)
	if err == nil {
		_, err = Data(pc, c)
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

func TestBombsAllocateWithinTheBound(t *testing.T) {
	for name, b := range bombs {
		if n, _ := renderAlloc(b.text); n > maxRenderAlloc {
			t.Errorf("%s: allocated %d bytes, more than %d", name, n, maxRenderAlloc)
		}
	}
	// The largest template the budget admits, rendered: its cost is real, and within the bound.
	big := strings.Repeat("{{ toJson .Email }}", 10)
	n, err := renderAlloc(big)
	if err != nil || n > maxRenderAlloc {
		t.Errorf("allocated %d bytes: %v", n, err)
	}
	t.Logf("ten toJson of a 1016-byte email: %d bytes allocated", n)
}

// FuzzTemplateBudget: no template, whatever it is, makes one check and render allocate more
// than maxRenderAlloc. Seeded with the bombs, scaled so that text/template alone would build
// megabytes, and with documented templates.
func FuzzTemplateBudget(f *testing.F) {
	for _, b := range bombs {
		f.Add(b.text)
	}
	for _, text := range documented {
		f.Add(text)
	}
	f.Add(`{{$x := "aaaa"}}` + strings.Repeat(`{{$x = printf "%s%s" $x $x}}`, 22))
	f.Add(`{{with printf "%s%s" .Passcode .Passcode}}` + strings.Repeat(`{{with printf "%s%s" . .}}`, 17) + strings.Repeat("{{end}}", 18))
	f.Add("{{with .Passcode" + strings.Repeat(" | b64enc", 36) + "}}{{end}}")
	f.Fuzz(func(t *testing.T, text string) {
		n, err := renderAlloc(text)
		if n > maxRenderAlloc {
			t.Fatalf("allocated %d bytes, more than %d (err %v)", n, maxRenderAlloc, err)
		}
	})
}
