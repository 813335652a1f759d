package v1alpha1_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/dashboardops/access-operator/internal/duration"
)

func dpol(spec string) string {
	return "kind: DashboardPolicy\nmetadata: {name: default}\nspec:\n" + indent(spec)
}

var _ = Describe("DashboardPolicy validation", func() {
	DescribeTable("refuses a bad policy with a message naming the field",
		func(y, field, message string) {
			err := dryRunCreate(y)
			Expect(err).To(HaveOccurred(), "the API server accepted:\n%s", y)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("named other than default", "kind: DashboardPolicy\nmetadata: {name: strict}\n", "metadata.name must be default", "one DashboardPolicy"),
		Entry("revokeUsersAfter of a minute", dpol("inactivity: {revokeUsersAfter: 1m}"), "spec.inactivity.revokeUsersAfter", "at least 1d"),
		Entry("revokeUsersAfter of 23h", dpol("inactivity: {revokeUsersAfter: 23h}"), "spec.inactivity.revokeUsersAfter", "at least 1d"),
		Entry("revokeUsersAfter over 3650d", dpol("inactivity: {revokeUsersAfter: 3651d}"), "spec.inactivity.revokeUsersAfter", "at most 3650d"),
		Entry("revokeUsersAfter in weeks", dpol("inactivity: {revokeUsersAfter: 12w}"), "spec.inactivity.revokeUsersAfter", "whole number followed by d, h or m"),
		Entry("revokePasscodesUnusedFor of an hour", dpol("inactivity: {revokePasscodesUnusedFor: 1h}"), "spec.inactivity.revokePasscodesUnusedFor", "at least 1d"),
		Entry("revokePasscodesUnusedFor as a number", dpol("inactivity: {revokePasscodesUnusedFor: 90}"), "spec.inactivity.revokePasscodesUnusedFor", "string"),
		Entry("warnBefore over 90d", dpol("inactivity: {warnBefore: 91d}"), "spec.inactivity.warnBefore", "at most 90d"),
		Entry("warnBefore with seconds", dpol("inactivity: {warnBefore: 30s}"), "spec.inactivity.warnBefore", "whole number followed by d, h or m"),
		Entry("maxTenure over 365d", dpol("passcodes: {maxTenure: 366d}"), "spec.passcodes.maxTenure", "at most 365d"),
		Entry("maxTenure of zero", dpol("passcodes: {maxTenure: 0m}"), "spec.passcodes.maxTenure", "at least 1m"),
		Entry("maxTenure of two units", dpol("passcodes: {maxTenure: 1h30m}"), "spec.passcodes.maxTenure", "whole number followed by d, h or m"),
		Entry("maxGracePeriod over 24h", dpol("passcodes: {maxGracePeriod: 2d}"), "spec.passcodes.maxGracePeriod", "at most 24h"),
		Entry("requireAutomaticRotation as a string", dpol("passcodes: {requireAutomaticRotation: 'yes'}"), "spec.passcodes.requireAutomaticRotation", "boolean"),
		Entry("domain with @", dpol("invites: {allowedEmailDomains: ['@example.com']}"), "spec.invites.allowedEmailDomains[0]", "must be a lower-case email domain"),
		Entry("domain in upper case", dpol("invites: {allowedEmailDomains: [example.com, Example.org]}"), "spec.invites.allowedEmailDomains[1]", "must be a lower-case email domain"),
		Entry("domain without a dot", dpol("invites: {allowedEmailDomains: [localhost]}"), "spec.invites.allowedEmailDomains[0]", "must be a lower-case email domain"),
		Entry("wildcard in the middle", dpol("invites: {allowedEmailDomains: ['mail.*.example.com']}"), "spec.invites.allowedEmailDomains[0]", "*.example.com for its subdomains"),
		Entry("bare wildcard", dpol("invites: {allowedEmailDomains: ['*']}"), "spec.invites.allowedEmailDomains[0]", "must be a lower-case email domain"),
		Entry("wildcard without the dot", dpol("invites: {allowedEmailDomains: ['*example.com']}"), "spec.invites.allowedEmailDomains[0]", "must be a lower-case email domain"),
		Entry("domain listed twice", dpol("invites: {allowedEmailDomains: [example.com, example.com]}"), "spec.invites.allowedEmailDomains[1]", "Duplicate value"),
		Entry("domain with a trailing dot", dpol("invites: {allowedEmailDomains: [example.com.]}"), "spec.invites.allowedEmailDomains[0]", "must be a lower-case email domain"),
		Entry("no seats", dpol("seats: {max: 0}"), "spec.seats.max", "greater than or equal to 1"),
		Entry("negative seats", dpol("seats: {max: -3}"), "spec.seats.max", "greater than or equal to 1"),
		Entry("seats without max", dpol("seats: {}"), "spec.seats.max", "Required value"),
		Entry("no admins", dpol("admins: {minimum: 0}"), "spec.admins.minimum", "greater than or equal to 1"),
		Entry("admins as a string", dpol("admins: {minimum: two}"), "spec.admins.minimum", "integer"),
	)

	DescribeTable("accepts good policies",
		func(y string) { Expect(dryRunCreate(y)).To(Succeed()) },
		Entry("empty", "kind: DashboardPolicy\nmetadata: {name: default}\n"),
		Entry("everything", dpol(`invites: {allowedEmailDomains: [example.com, '*.example.com', corp.example.co.uk]}
			passcodes: {maxTenure: 90d, requireAutomaticRotation: true, maxGracePeriod: 1h}
			inactivity: {revokeUsersAfter: 90d, revokePasscodesUnusedFor: 30d, warnBefore: 7d}
			seats: {max: 25}
			admins: {minimum: 2}`)),
		Entry("shortest inactivity, in hours and minutes", dpol("inactivity: {revokeUsersAfter: 24h, revokePasscodesUnusedFor: 1440m, warnBefore: 0m}")),
		Entry("no grace allowed", dpol("passcodes: {maxGracePeriod: 0m}")),
		Entry("any domain", dpol("invites: {allowedEmailDomains: []}")),
	)

	// The CRD's rules and internal/duration accept the same strings, as for the other kinds.
	candidates := []string{"0m", "1m", "59m", "1h", "23h", "24h", "1439m", "1440m", "1d", "7d", "90d", "91d", "129600m", "129601m",
		"365d", "366d", "3650d", "3651d", "87600h", "87601h", "5256000m", "1w", "30s", "-1d", "01d", "1.5d", "1D"}
	fields := []struct {
		name     string
		manifest func(v string) string
		goAccept func(v string) bool
	}{
		{"spec.inactivity.revokeUsersAfter", func(v string) string { return dpol(fmt.Sprintf("inactivity: {revokeUsersAfter: %q}", v)) },
			func(v string) bool { _, err := duration.Inactivity(v); return err == nil }},
		{"spec.inactivity.revokePasscodesUnusedFor", func(v string) string { return dpol(fmt.Sprintf("inactivity: {revokePasscodesUnusedFor: %q}", v)) },
			func(v string) bool { _, err := duration.Inactivity(v); return err == nil }},
		{"spec.inactivity.warnBefore", func(v string) string { return dpol(fmt.Sprintf("inactivity: {warnBefore: %q}", v)) },
			func(v string) bool { _, err := duration.WarnBefore(v); return err == nil }},
		{"spec.passcodes.maxTenure", func(v string) string { return dpol(fmt.Sprintf("passcodes: {maxTenure: %q}", v)) },
			func(v string) bool { _, err := duration.Tenure(v); return err == nil }},
		{"spec.passcodes.maxGracePeriod", func(v string) string { return dpol(fmt.Sprintf("passcodes: {maxGracePeriod: %q}", v)) },
			func(v string) bool { _, err := duration.GracePeriod(v); return err == nil }},
	}
	for _, f := range fields {
		It("agrees with internal/duration on "+f.name, func() {
			for _, v := range candidates {
				apiErr := dryRunCreate(f.manifest(v))
				goOK := f.goAccept(v)
				Expect(apiErr == nil).To(Equal(goOK), "%s=%q: API server error %v, Go accepts %v", f.name, v, apiErr, goOK)
			}
		})
	}
})
