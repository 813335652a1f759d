package v1alpha1_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
)

// generatedBadManifests are families of malformed input, each applied to every field it concerns:
// the same refusal, with the field named, wherever the value appears.
func generatedBadManifests() []TableEntry {
	var out []TableEntry
	add := func(name, y, field, message string) { out = append(out, Entry(name, y, field, message)) }

	// Durations: every duration field refuses the same malformed strings with the same message.
	malformed := []string{"''", "'7'", "1w", "30s", "1.5h", "-1d", "030d", "30D", "1h30m", "' 1h'", "'1h '", "1000000m", "d", "'+1h'", "0x10m"}
	durationFields := map[string]func(string) string{
		"spec.tenure": func(v string) string { return passcode("userRef: {name: jane}\ntenure: " + v) },
		"spec.rotation.renewBefore": func(v string) string {
			return okPasscode("rotation: {renewBefore: " + v + "}")
		},
		"spec.rotation.gracePeriod": func(v string) string { return okPasscode("rotation: {gracePeriod: " + v + "}") },
		"spec.invite.ttl":           func(v string) string { return user(okUser + "\ninvite: {ttl: " + v + "}") },
	}
	for field, manifest := range durationFields {
		for _, v := range malformed {
			message := "whole number followed by d, h or m"
			if v == "''" {
				message = field // an empty string: refused by the pattern or the length rule, naming the field
			}
			add(fmt.Sprintf("%s %s", field, v), manifest(v), field, message)
		}
	}

	// Emails: malformed or undeliverable addresses, all refused at spec.email.
	for _, e := range []string{"a", "a@", "@b.io", "a@b", "a@@b.io", "a b@c.io", "a@b c.io", "a@-b.io", "a@b-.io", "a@b..io", "a@.b.io",
		"a@b.io.", ".a@b.io", "a.@b.io", "a..b@c.io", "a,b@c.io", "a;b@c.io", "<a@b.io>", "a@[127.0.0.1]", "\"a\"@b.io", "jané@b.io",
		"a@bü.io", strings.Repeat("a", 65) + "@b.io", "a@" + strings.Repeat("b", 64) + ".io", "a@x." + strings.Repeat("b", 64)} {
		add("email "+e, user("email: '"+strings.ReplaceAll(e, "'", "''")+"'\nrole: Member"), "spec.email", "")
	}

	// Display names with control characters, C0, DEL and C1.
	for _, c := range []string{"\\x00", "\\x07", "\\b", "\\f", "\\v", "\\r", "\\x1b", "\\x7f", "\\u0085", "\\u009b"} {
		add("display name with "+c, user(okUser+"\ndisplayName: \"a"+c+"b\""), "spec.displayName", "control characters")
	}

	// Display names and role descriptions with invisible format characters (\p{Cf}): bidirectional
	// overrides, embeddings, isolates and marks, zero-width space, BOM, soft hyphen, a tag character.
	for _, c := range []string{"\\u202e", "\\u202a", "\\u202b", "\\u202c", "\\u202d", "\\u2066", "\\u2067", "\\u2068", "\\u2069",
		"\\u200e", "\\u200f", "\\u061c", "\\u200b", "\\ufeff", "\\u00ad", "\\U000e0041"} {
		add("display name with "+c, user(okUser+"\ndisplayName: \"jane"+c+"moc.elpmaxe\""), "spec.displayName", "invisible format characters")
		add("role description with "+c, role("analyst", "description: \"a"+c+"b\""), "spec.description", "invisible format characters")
	}

	// Names that no object can have.
	for _, n := range []string{"Jane", "jane_doe", "-jane", "jane-", "jane..doe", ".jane", "jane doe", "jané"} {
		add("userRef name "+n, passcode("userRef: {name: '"+n+"'}\ntenure: 30d"), "spec.userRef.name", "must be the name of a DashboardUser")
		add("secretName "+n, okPasscode("secretName: '"+n+"'"), "spec.secretName", "DNS-1123 subdomain")
	}

	// Role names that are neither a system role nor a possible DashboardRole name, and access values
	// outside the enum.
	for _, r := range []string{"Owner", "admin", "ADMIN", "Viewer", "a.b", "a_b", "-a"} {
		add("role "+r, user("email: jane@example.com\nrole: "+r), "spec.role", "system role")
	}
	add("role ''", user("email: jane@example.com\nrole: ''"), "spec.role", "at least 1")
	for _, a := range []string{"granted", "Denied", "Suspended", "''"} {
		add("access "+a, user(okUser+"\naccess: "+a), "spec.access", "Unsupported value")
	}

	// secretTemplate metadata the API server would refuse on the Secret.
	for _, v := range []string{"'a b'", "'-a'", "'a-'", "'_a'", "'a.'", "'a/b'", "'a:b'", "'é'"} {
		add("secretTemplate label value "+v, okPasscode("secretTemplate: {labels: {team: "+v+"}}"), "spec.secretTemplate.labels.team", "should match")
	}
	for _, k := range []string{"'bad key'", "'a/b/c'", "''", "'/a'", "'a/'", "'-a'", "'Example.com/a'", "'é'"} {
		add("secretTemplate label key "+k, okPasscode("secretTemplate: {labels: {"+k+": x}}"), "spec.secretTemplate.labels", "keys must be label keys")
	}
	for _, k := range []string{"'bad key'", "'a/b/c'", "''", "'/a'", "'a/'", "'-a'", "'é'"} {
		add("secretTemplate annotation key "+k, okPasscode("secretTemplate: {annotations: {"+k+": x}}"), "spec.secretTemplate.annotations",
			"keys must be annotation keys")
	}
	return out
}

var _ = Describe("CRD validation, generated families", func() {
	entries := generatedBadManifests()
	DescribeTable("refuses each malformed value wherever it appears, naming the field",
		func(y, field, message string) {
			err := dryRunCreate(y)
			if err == nil {
				Fail("the API server accepted:\n" + y)
			}
			if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), message) {
				Fail(fmt.Sprintf("the refusal does not name %s with %q: %v", field, message, err))
			}
		},
		entries,
	)
	It("with the hand-written table, holds at least 150 malformed manifests", func() {
		if n := len(entries) + len(badManifests); n < 150 {
			Fail(fmt.Sprintf("%d malformed manifests", n))
		}
	})
})
