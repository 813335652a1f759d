package v1alpha1_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// celMessages are the messages of the CEL rules on spec.secretTemplate.data's templates.
var celMessages = []string{
	"templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt",
	"templates may not use range, define, template, block, break or continue: templates may use only the fields",
	"templates may not declare or assign variables ($x := ..., $ = ...)",
	"printf formats may not have a width, a precision or an argument index",
}

// The CRD refuses at apply the secretTemplate.data templates CEL can see are outside the language
// (fields the operator does not have, range and the other loops and recursions, variables, printf
// widths); CEL cannot parse templates, so the controller checks the rest (functions, budgets) and
// stalls the Passcode. The CRD must never refuse a template the controller would render, and what
// it refuses the controller refuses too, with the same message (a template can reach the controller
// without the CRD's rules: stored before an upgrade, or written with them off).
var _ = Describe("secretTemplate.data: CEL and the controller's check agree", func() {
	It("refuses at apply only templates the controller refuses too, and names why", func() {
		var refusedByCEL, refusedByController int
		for _, text := range []string{
			"{{ .Passcode }}", "{{.Email}}", "{{- .Account -}}", "{{ .ExpiresAt }}", "{{ $.Passcode }}", "{{ (.Email) }}",
			"{{ .Email | printf \"%s.x\" }}", "{{ if .Passcode }}{{ .Passcode }}{{ end }}", "see .netrc and example.com/.well-known",
			"{{ printf \"%s:%s\" .Email .Passcode | b64enc }}", "{{ toJson .Account }}",
			"{{ .Password }}", "{{.Foo}}", "{{ $.Foo }}", "{{ (.Foo) }}", "{{ .Email }} {{ .Token }}", "{{ if .Passcode }}{{ .Secret }}{{ end }}",
			"{{ .Passcode.Len }}", "{{ .Passcode ", "{{ sha256 .Passcode }}",
			// the restricted language: accepted by both
			"{{ printf \"%s=%s\" .Email .Passcode }}", "{{ printf \"%-s %+q %#x % x %0d %%\" .Email .Email .Email .Email 1 }}",
			"{{ with .Passcode }}{{ . }}{{ else }}none{{ end }}", "{{ if eq .Account \"team\" }}t{{ else if .Email }}e{{ end }}",
			"price: $5, 100%5 and {{ .Email }}", "range, define and $x outside actions", "{{/* range */}}{{ .Email }}",
			"{{ .Email }}{{ \"a}\" }} $x", "{{ len .Passcode }}", "{{ ranges }}", "{{ templates .Email }}",
			// refused by CEL at apply, and by the controller
			"{{ range 1000000000000 }}{{ end }}", "{{range .Passcode}}{{end}}", "{{- range 3 }}x{{ end }}", "{{ if 1 }}{{ else range 2 }}{{ end }}",
			"{{ define \"a\" }}{{ template \"a\" . }}{{ end }}{{ template \"a\" . }}", "{{ block \"a\" . }}x{{ end }}",
			"{{ range 3 }}{{ break }}{{ end }}", "{{\trange 3}}{{continue}}{{end}}", "{{ printf \"%s\" \"{{range\" }}",
			"{{ $x := \"aaaa\" }}" + strings.Repeat("{{ $x = printf \"%s%s\" $x $x }}", 28), "{{ $ = \"aaaa\" }}{{ $ = printf \"%s%s\" $ $ }}",
			"{{ print ($x := 1) }}", "{{ $ := 1 }}", "{{ \"$HOME\" }}",
			"{{ printf \"%0999999999d\" 1 }}", "{{ printf \"%.999999999f\" 1.0 }}", "{{ printf \"%*d\" 9 1 }}", "{{ printf \"%[1]s\" .Email }}",
			// admitted by CEL, refused by the controller before they run
			"{{ call .Passcode }}", "{{ printf .Passcode }}", "{{ printf \"%e\" 1.0 }}",
			"{{ with printf \"%s%s\" .Passcode .Passcode }}" + strings.Repeat("{{ with printf \"%s%s\" . . }}", 30) + strings.Repeat("{{ end }}", 31),
			"{{ .Passcode" + strings.Repeat(" | b64enc", 40) + " }}", strings.Repeat("{{.}}", 400),
		} {
			b, err := json.Marshal(map[string]any{"data": map[string]string{"k": text}})
			Expect(err).NotTo(HaveOccurred())
			applyErr := dryRunCreate(okPasscode("secretTemplate: " + string(b)))
			checkErr := passcodesecret.CheckTemplate(&accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(text)}})
			if applyErr != nil {
				refusedByCEL++
				Expect(applyErr.Error()).To(ContainSubstring("spec.secretTemplate.data"), "%q", text)
				Expect(applyErr.Error()).To(Or(ContainSubstring(celMessages[0]), ContainSubstring(celMessages[1]),
					ContainSubstring(celMessages[2]), ContainSubstring(celMessages[3])), "%q", text)
				Expect(checkErr).To(HaveOccurred(), "the CRD refuses %q, which the controller renders", text)
				Expect(applyErr.Error()).To(ContainSubstring(strings.TrimPrefix(checkErr.Error(), "spec.secretTemplate.data[k]: ")),
					"the controller refuses %q as the CRD does", text)
			}
			if checkErr == nil {
				Expect(applyErr).NotTo(HaveOccurred(), "%q", text)
			} else {
				refusedByController++
			}
		}
		Expect(refusedByCEL).To(Equal(25), "what CEL can see")
		Expect(refusedByController).To(Equal(refusedByCEL+10), "what only the controller can see")
	})
})
