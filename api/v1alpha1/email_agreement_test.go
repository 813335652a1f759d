package v1alpha1_test

import (
	"net/mail"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/users"
)

// One list of addresses, three judges: the CRD's rule on the real API server, users.ValidateEmail
// (what the plugin and SCIM check with) and notify.ParseRecipient (what every notifier parses a
// recipient with). What the API accepts, the plugin and SCIM accept and a notifier can deliver to;
// what it refuses, the plugin and SCIM refuse too.
var emailsForAllJudges = []string{
	"jane@example.com", "jane.doe@example.com", "jane.doe+tag@mail.example.co.uk", "a_b%c-d@x-y.io", "j@x.io",
	"0@0.io", "a.b.c.d@e.f.g", strings.Repeat("a", 64) + "@example.com",
	".a@x.io", "a..b@x.io", "a.@x.io", ".@x.io", "a@.x.io", "a@x..io", "a@x.io.", "a@-x.io", "a@x-.io",
	"a@x", "a@@x.io", "a b@x.io", "a\"b@x.io", "(a)@x.io", "a@[127.0.0.1]", "<a@x.io>", "A@x.io", "a@x.IO",
	"jané@example.com", "a@exämple.com", "a,b@x.io", "a;b@x.io", "a:b@x.io", "a\\b@x.io", "@x.io", "a@", "",
	// DNS labels are at most 63 characters (RFC 1035): 63 is deliverable, 64 never is, wherever it is.
	"a@" + strings.Repeat("b", 63) + ".io", "a@x." + strings.Repeat("b", 63) + ".io", "a@x." + strings.Repeat("b", 63),
	"a@" + strings.Repeat("b", 64) + ".io", "a@x." + strings.Repeat("b", 64) + ".io", "a@x." + strings.Repeat("b", 64),
	"a@" + strings.Repeat("b-", 32) + "c.io", strings.Repeat("b", 64) + "@" + strings.Repeat("c", 63) + ".io",
}

// beyondDNS are addresses of the list whose domain has a label DNS cannot carry: the notifiers
// refuse them too, so that none is retried forever against a mail server.
var beyondDNS = []string{
	"a@" + strings.Repeat("b", 64) + ".io", "a@x." + strings.Repeat("b", 64) + ".io", "a@x." + strings.Repeat("b", 64),
	"a@" + strings.Repeat("b-", 32) + "c.io",
}

var _ = Describe("Email addresses", func() {
	It("are judged the same by the CRD, the plugin and the notifiers", func() {
		for _, email := range emailsForAllJudges {
			apiErr := dryRunCreate(user("email: '" + strings.ReplaceAll(email, "'", "''") + "'\nrole: Member"))
			ownErr := users.ValidateEmail(email)
			Expect(ownErr == nil).To(Equal(apiErr == nil), "%q: API server says %v, users.ValidateEmail (plugin, SCIM) says %v", email, apiErr, ownErr)
			if apiErr == nil {
				addr, err := notify.ParseRecipient(email)
				Expect(err).NotTo(HaveOccurred(), "%q is accepted at apply but a notifier could never deliver to it", email)
				Expect(addr.Address).To(Equal(email))
			}
		}
	})

	It("with a domain label longer than 63 characters, are refused by all three, naming the rule", func() {
		for _, email := range beyondDNS {
			Expect(emailsForAllJudges).To(ContainElement(email))
			apiErr := dryRunCreate(user("email: '" + email + "'\nrole: Member"))
			Expect(apiErr).To(MatchError(And(ContainSubstring("spec.email"), ContainSubstring("at most 63 characters"))), email)
			Expect(users.ValidateEmail(email)).To(MatchError(ContainSubstring("at most 63 characters")), email)
			_, err := mail.ParseAddress(email)
			Expect(err).NotTo(HaveOccurred(), "net/mail alone accepts %q: the notifiers need their own check", email)
			_, err = notify.ParseRecipient(email)
			Expect(err).To(MatchError(ContainSubstring("more than the 63 DNS allows")), email)
		}
	})
})
