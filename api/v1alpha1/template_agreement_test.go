package v1alpha1_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// The CRD refuses at apply the secretTemplate.data templates that name a field the operator does
// not have; CEL cannot parse templates, so the controller checks the rest and stalls the Passcode.
// The CRD must never refuse a template the controller would render.
var _ = Describe("secretTemplate.data: CEL and the controller's check agree", func() {
	It("refuses at apply only templates the controller refuses too, and names why", func() {
		for _, text := range []string{
			"{{ .Passcode }}", "{{.Email}}", "{{- .Account -}}", "{{ .ExpiresAt }}", "{{ $.Passcode }}", "{{ (.Email) }}",
			"{{ .Email | printf \"%s.x\" }}", "{{ if .Passcode }}{{ .Passcode }}{{ end }}", "see .netrc and example.com/.well-known",
			"{{ printf \"%s:%s\" .Email .Passcode | b64enc }}", "{{ toJson .Account }}",
			"{{ .Password }}", "{{.Foo}}", "{{ $.Foo }}", "{{ (.Foo) }}", "{{ .Email }} {{ .Token }}", "{{ if .Passcode }}{{ .Secret }}{{ end }}",
			"{{ .Passcode.Len }}", "{{ .Passcode ", "{{ sha256 .Passcode }}",
		} {
			b, err := json.Marshal(map[string]any{"data": map[string]string{"k": text}})
			Expect(err).NotTo(HaveOccurred())
			applyErr := dryRunCreate(okPasscode("secretTemplate: " + string(b)))
			checkErr := passcodesecret.CheckTemplate(&accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"k": accessv1alpha1.DataTemplate(text)}})
			if applyErr != nil {
				Expect(applyErr.Error()).To(ContainSubstring("only the fields .Passcode, .Email, .Account and .ExpiresAt"), "%q", text)
				Expect(checkErr).To(HaveOccurred(), "the CRD refuses %q, which the controller renders", text)
			}
			if checkErr == nil {
				Expect(applyErr).NotTo(HaveOccurred(), "%q", text)
			}
		}
	})
})
