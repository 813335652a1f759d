package v1alpha1_test

import (
	"net/mail"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/dashboardops/access-operator/internal/plugin"
)

// One list of addresses, three judges: the CRD's rule on the real API server, the plugin's check,
// and net/mail (what every notifier parses a recipient with). What the API accepts, the plugin
// accepts and a notifier can deliver to; what it refuses, the plugin refuses too.
var emailsForAllThree = []string{
	"jane@example.com", "jane.doe@example.com", "jane.doe+tag@mail.example.co.uk", "a_b%c-d@x-y.io", "j@x.io",
	"0@0.io", "a.b.c.d@e.f.g", strings.Repeat("a", 64) + "@example.com",
	".a@x.io", "a..b@x.io", "a.@x.io", ".@x.io", "a@.x.io", "a@x..io", "a@x.io.", "a@-x.io", "a@x-.io",
	"a@x", "a@@x.io", "a b@x.io", "a\"b@x.io", "(a)@x.io", "a@[127.0.0.1]", "<a@x.io>", "A@x.io", "a@x.IO",
	"jané@example.com", "a@exämple.com", "a,b@x.io", "a;b@x.io", "a:b@x.io", "a\\b@x.io", "@x.io", "a@", "",
}

var _ = Describe("Email addresses", func() {
	It("are judged the same by the CRD, the plugin and the notifiers", func() {
		for _, email := range emailsForAllThree {
			apiErr := dryRunCreate(user("email: '" + strings.ReplaceAll(email, "'", "''") + "'\nrole: Member"))
			pluginErr := plugin.ValidateEmail(email)
			Expect(pluginErr == nil).To(Equal(apiErr == nil), "%q: API server says %v, plugin says %v", email, apiErr, pluginErr)
			if apiErr == nil {
				addr, err := mail.ParseAddress(email)
				Expect(err).NotTo(HaveOccurred(), "%q is accepted at apply but a notifier could never deliver to it", email)
				Expect(addr.Address).To(Equal(email))
			}
		}
	})
})
