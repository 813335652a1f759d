package v1alpha1_test

import (
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/dashboardops/access-operator/internal/roles"
)

// The CRD's rules for spec.role and internal/roles.CheckName (which the plugin, the users page and
// SCIM use) must agree: a role name the plugin accepts is one the API server stores, and the other
// way round.
var _ = Describe("Role names", func() {
	It("are judged the same by the CRD and internal/roles", func() {
		for _, name := range []string{
			"Admin", "Creator", "Member", "Approver", "admin", "ADMIN", "aDmin", "member", "approver", "creator",
			"data-analyst", "r", "r2", "2r", "a-b-c", "-a", "a-", "a.b", "a_b", "A", "Owner", "owner", "admins",
			"analyst ", " analyst", "ä", strings.Repeat("r", 63), strings.Repeat("r", 64), "",
		} {
			apiErr := dryRunCreate(user("email: jane@example.com\nrole: '" + name + "'"))
			Expect(roles.CheckName(name) == nil).To(Equal(apiErr == nil), "%q: API server says %v, roles says %v", name, apiErr, roles.CheckName(name))
		}
	})

	It("permission vocabulary is the CRD's enum, exactly", func() {
		for _, p := range roles.KnownNames() {
			Expect(dryRunCreate(role("r-"+strings.ReplaceAll(p, ".", "-"), "permissions: ["+p+"]"))).To(Succeed(), p)
		}
		// The refusal of an unknown name lists the enum: nothing more, nothing less than the vocabulary.
		err := dryRunCreate(role("bad", "permissions: [nope]"))
		Expect(err).To(HaveOccurred())
		_, supported, found := strings.Cut(err.Error(), "supported values: ")
		Expect(found).To(BeTrue(), err.Error())
		quoted := regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(supported, -1)
		enum := make([]string, len(quoted))
		for i, m := range quoted {
			enum[i] = m[1]
		}
		Expect(enum).To(ConsistOf(roles.KnownNames()))
	})
})
