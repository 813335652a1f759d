package v1alpha1_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The operator's label and annotation keys mark what it wrote, and access.dashboardops.io/scim-token
// makes a Secret a SCIM token (issue 22, item 2): a Passcode's secretTemplate, which reaches its
// Secret and every copy, may set none of them. The API server refuses them at apply, naming the field.
var _ = Describe("secretTemplate keys the operator owns", func() {
	owned := []string{
		"access.dashboardops.io/scim-token", // a static template value would be a SCIM token
		"access.dashboardops.io/copy-of",
		"access.dashboardops.io/copy-of-namespace",
		"access.dashboardops.io/invite-key",
		"access.dashboardops.io/passcode",
		"access.dashboardops.io/anything-new",
		"app.kubernetes.io/managed-by",
	}
	secretTemplate := func(field, key string) string {
		b, err := json.Marshal(map[string]any{field: map[string]string{key: "true"}})
		Expect(err).NotTo(HaveOccurred())
		return okPasscode("secretTemplate: " + string(b))
	}
	for _, field := range []string{"labels", "annotations"} {
		It("refuses them in spec.secretTemplate."+field, func() {
			for _, key := range owned {
				err := dryRunCreate(secretTemplate(field, key))
				Expect(err).To(HaveOccurred(), "%s %q was accepted", field, key)
				Expect(err.Error()).To(ContainSubstring("spec.secretTemplate."+field), "key %q", key)
				Expect(err.Error()).To(ContainSubstring("must not use the access.dashboardops.io/ prefix or app.kubernetes.io/managed-by"), "key %q", key)
			}
		})
	}
	It("refuses an annotation key that differs from the operator's in case only", func() {
		Expect(dryRunCreate(secretTemplate("annotations", "Access.DashboardOps.io/scim-token"))).To(
			MatchError(ContainSubstring("spec.secretTemplate.annotations")))
	})
	It("still takes other keys, app.kubernetes.io/ ones included", func() {
		for _, field := range []string{"labels", "annotations"} {
			for _, key := range []string{"team", "app.kubernetes.io/part-of", "example.com/access.dashboardops.io", "dashboardops.io/scim-token"} {
				Expect(dryRunCreate(secretTemplate(field, key))).To(Succeed(), "%s %q", field, key)
			}
		}
	})
})
