package v1alpha1_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dashboardops/access-operator/internal/duration"
	"github.com/dashboardops/access-operator/internal/roles"
)

const namespace = "default"

// manifest reads YAML into an unstructured object, so that tests can send values the Go types
// could never hold (wrong types, unknown enum values).
func manifest(y string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(y), &obj.Object)).To(Succeed())
	obj.SetAPIVersion("access.dashboardops.io/v1alpha1")
	obj.SetNamespace(namespace)
	return obj
}

func user(spec string) string {
	return "kind: DashboardUser\nmetadata: {name: jane}\nspec:\n" + indent(spec)
}

func role(name, spec string) string {
	return "kind: DashboardRole\nmetadata: {name: " + name + "}\nspec:\n" + indent(spec)
}

func passcode(spec string) string {
	return "kind: Passcode\nmetadata: {name: jane-api}\nspec:\n" + indent(spec)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = "  " + strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "\n") + "\n"
}

// dryRunCreate runs every admission and validation step of a create without storing anything.
func dryRunCreate(y string) error {
	return k8sClient.Create(ctx, manifest(y), client.DryRunAll)
}

const okUser = "email: jane@example.com\nrole: Member"

func okPasscode(extra string) string {
	return passcode("userRef: {name: jane}\ntenure: 30d\n" + extra)
}

// badManifests: each is refused by the API server with a message naming its field.
var badManifests = []TableEntry{
	// DashboardUser
	Entry("no spec", "kind: DashboardUser\nmetadata: {name: jane}\n", "spec", "Required value"),
	Entry("no email", user("role: Member"), "spec.email", "Required value"),
	Entry("upper-case email", user("email: Jane@example.com\nrole: Member"), "spec.email", "must be lower case"),
	Entry("email without @", user("email: jane.example.com\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email without domain", user("email: jane@\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email without local part", user("email: '@example.com'\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email without a dot in the domain", user("email: jane@localhost\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email with a space", user("email: jane doe@example.com\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email domain starting with -", user("email: jane@-example.com\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email with two @", user("email: jane@doe@example.com\nrole: Member"), "spec.email", "must be an email address"),
	Entry("email longer than 254", user("email: "+strings.Repeat("a", 60)+"@"+strings.Repeat("b", 190)+".com\nrole: Member"), "spec.email", "254"),
	Entry("email local part longer than 64", user("email: "+strings.Repeat("a", 65)+"@example.com\nrole: Member"), "spec.email", "at most 64"),
	Entry("email of the wrong type", user("email: 42\nrole: Member"), "spec.email", "string"),
	// Valid-looking but undeliverable: net/mail (the notifiers) refuses them, so the CRD does too.
	Entry("email local part starting with a dot", user("email: .a@x.io\nrole: Member"), "spec.email", "no dot at the start or end"),
	Entry("email local part with two dots", user("email: a..b@x.io\nrole: Member"), "spec.email", "no two dots in a row"),
	Entry("email local part ending with a dot", user("email: a.@x.io\nrole: Member"), "spec.email", "must be an email address"),
	Entry("display name with an ANSI escape", user(okUser+"\ndisplayName: \"\\e[31mRED\""), "spec.displayName", "control characters"),
	Entry("display name with a newline", user(okUser+"\ndisplayName: \"Jane\\nDoe\""), "spec.displayName", "control characters"),
	Entry("display name with a tab", user(okUser+"\ndisplayName: \"Jane\\tDoe\""), "spec.displayName", "control characters"),
	Entry("no role", user("email: jane@example.com"), "spec.role", "Required value"),
	Entry("unknown role spelled like a system role", user("email: jane@example.com\nrole: Owner"), "spec.role", "must be a system role (Admin, Creator, Member or Approver)"),
	Entry("role in the wrong case", user("email: jane@example.com\nrole: admin"), "spec.role", "a system role is spelled Admin, Creator, Member or Approver"),
	Entry("role in upper case", user("email: jane@example.com\nrole: ADMIN"), "spec.role", "must be a system role"),
	Entry("role with a dot", user("email: jane@example.com\nrole: data.analyst"), "spec.role", "lower-case letters, digits and '-'"),
	Entry("role longer than 63", user("email: jane@example.com\nrole: "+strings.Repeat("r", 64)), "spec.role", "63"),
	Entry("empty role", user("email: jane@example.com\nrole: ''"), "spec.role", "at least 1"),
	// DashboardRole
	Entry("role named like a system role", role("member", "permissions: [reports.read]"), "metadata.name", "must not be a system role's name"),
	Entry("role name with a dot", role("data.analyst", "permissions: [reports.read]"), "metadata.name", "no dots"),
	Entry("unknown permission", role("analyst", "permissions: [reports.delete]"), "spec.permissions[0]", "Unsupported value"),
	Entry("permission in the wrong case", role("analyst", "permissions: [Reports.Read]"), "spec.permissions[0]", "Unsupported value"),
	Entry("permission listed twice", role("analyst", "permissions: [reports.read, reports.read]"), "spec.permissions[1]", "Duplicate value"),
	Entry("description with a newline", role("analyst", "description: \"a\\nb\""), "spec.description", "control characters"),
	Entry("description longer than 256", role("analyst", "description: "+strings.Repeat("d", 257)), "spec.description", "256"),
	Entry("unknown access", user(okUser+"\naccess: Suspended"), "spec.access", "Unsupported value"),
	Entry("display name longer than 128", user(okUser+"\ndisplayName: "+strings.Repeat("x", 129)), "spec.displayName", "128"),
	Entry("invite ttl without unit", user(okUser+"\ninvite: {ttl: '7'}"), "spec.invite.ttl", "whole number followed by d, h or m"),
	Entry("invite ttl in weeks", user(okUser+"\ninvite: {ttl: 1w}"), "spec.invite.ttl", "whole number followed by d, h or m"),
	Entry("invite ttl of zero", user(okUser+"\ninvite: {ttl: 0m}"), "spec.invite.ttl", "at least 1m"),
	Entry("invite ttl over 30d", user(okUser+"\ninvite: {ttl: 31d}"), "spec.invite.ttl", "at most 30d"),
	// Passcode
	Entry("no userRef", passcode("tenure: 30d"), "spec.userRef", "Required value"),
	Entry("empty userRef name", passcode("userRef: {name: ''}\ntenure: 30d"), "spec.userRef.name", "at least 1"),
	Entry("userRef name that no object can have", passcode("userRef: {name: Jane_Doe}\ntenure: 30d"), "spec.userRef.name", "must be the name of a DashboardUser"),
	Entry("no tenure", passcode("userRef: {name: jane}"), "spec.tenure", "Required value"),
	Entry("tenure without unit", passcode("userRef: {name: jane}\ntenure: '30'"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("tenure in seconds", passcode("userRef: {name: jane}\ntenure: 30s"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("tenure with a fraction", passcode("userRef: {name: jane}\ntenure: 1.5h"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("negative tenure", passcode("userRef: {name: jane}\ntenure: -1d"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("tenure with a leading zero", passcode("userRef: {name: jane}\ntenure: 030d"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("tenure with an upper-case unit", passcode("userRef: {name: jane}\ntenure: 30D"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("tenure of two units", passcode("userRef: {name: jane}\ntenure: 1h30m"), "spec.tenure", "whole number followed by d, h or m"),
	Entry("zero tenure", passcode("userRef: {name: jane}\ntenure: 0m"), "spec.tenure", "at least 1m and at most 365d"),
	Entry("tenure over 365d", passcode("userRef: {name: jane}\ntenure: 366d"), "spec.tenure", "at least 1m and at most 365d"),
	Entry("tenure over 365d in hours", passcode("userRef: {name: jane}\ntenure: 8761h"), "spec.tenure", "at least 1m and at most 365d"),
	Entry("tenure of the wrong type", passcode("userRef: {name: jane}\ntenure: 30"), "spec.tenure", "string"),
	Entry("unknown rotation policy", okPasscode("rotation: {policy: Sometimes}"), "spec.rotation.policy", "Unsupported value"),
	Entry("renewBefore equal to tenure", okPasscode("rotation: {policy: Automatic, renewBefore: 30d}"), "spec.rotation.renewBefore", "must be shorter than spec.tenure"),
	Entry("renewBefore longer than tenure", okPasscode("rotation: {renewBefore: 721h}"), "spec.rotation.renewBefore", "must be shorter than spec.tenure"),
	Entry("renewBefore of zero", okPasscode("rotation: {renewBefore: 0m}"), "spec.rotation.renewBefore", "at least 1m"),
	Entry("renewBefore without a valid unit", okPasscode("rotation: {renewBefore: 10x}"), "spec.rotation.renewBefore", "whole number followed by d, h or m"),
	Entry("gracePeriod over 24h", okPasscode("rotation: {gracePeriod: 25h}"), "spec.rotation.gracePeriod", "at most 24h"),
	Entry("gracePeriod of two days", okPasscode("rotation: {gracePeriod: 2d}"), "spec.rotation.gracePeriod", "at most 24h"),
	Entry("gracePeriod of two units", okPasscode("rotation: {gracePeriod: 1h30m}"), "spec.rotation.gracePeriod", "whole number followed by d, h or m"),
	Entry("secretName with capitals", okPasscode("secretName: My_Secret"), "spec.secretName", "DNS-1123 subdomain"),
	Entry("secretName starting with -", okPasscode("secretName: -api"), "spec.secretName", "DNS-1123 subdomain"),
	Entry("secretName longer than 253", okPasscode("secretName: "+strings.Repeat("a", 254)), "spec.secretName", "253"),
	Entry("secretTemplate label the operator owns", okPasscode("secretTemplate: {labels: {app.kubernetes.io/managed-by: me}}"), "spec.secretTemplate.labels", "the operator owns them"),
	Entry("secretTemplate label naming another passcode", okPasscode("secretTemplate: {labels: {access.dashboardops.io/passcode: other}}"), "spec.secretTemplate.labels", "the operator owns them"),
	Entry("secretTemplate label key that is no label key", okPasscode("secretTemplate: {labels: {'bad key!': x}}"), "spec.secretTemplate.labels", "keys must be label keys"),
	Entry("secretTemplate label value over 63", okPasscode("secretTemplate: {labels: {team: "+strings.Repeat("x", 64)+"}}"), "spec.secretTemplate.labels", "may not be more than 63"),
	Entry("secretTemplate label value with a space", okPasscode("secretTemplate: {labels: {team: 'a b'}}"), "spec.secretTemplate.labels.team",
		"should match"),
	Entry("secretTemplate label value ending with -", okPasscode("secretTemplate: {labels: {team: 'ab-'}}"), "spec.secretTemplate.labels.team",
		"should match"),
	Entry("secretTemplate label value with a /", okPasscode("secretTemplate: {labels: {team: 'a/b'}}"), "spec.secretTemplate.labels.team",
		"should match"),
	Entry("secretTemplate annotation key with a space", okPasscode("secretTemplate: {annotations: {'bad key': x}}"),
		"spec.secretTemplate.annotations", "keys must be annotation keys"),
	Entry("secretTemplate annotation key with two /", okPasscode("secretTemplate: {annotations: {'a/b/c': x}}"),
		"spec.secretTemplate.annotations", "keys must be annotation keys"),
	Entry("secretTemplate annotation key empty", okPasscode("secretTemplate: {annotations: {'': x}}"),
		"spec.secretTemplate.annotations", "keys must be annotation keys"),
	Entry("secretTemplate annotation the operator owns", okPasscode("secretTemplate: {annotations: {access.dashboardops.io/revision: '9'}}"), "spec.secretTemplate.annotations", "the operator owns them"),
	Entry("revoked of the wrong type", okPasscode("revoked: 'yes'"), "spec.revoked", "boolean"),
	Entry("secretTemplate type with a space", okPasscode("secretTemplate: {type: 'my type'}"), "spec.secretTemplate.type", "must be a Secret type"),
	Entry("secretTemplate type service-account-token", okPasscode("secretTemplate: {type: kubernetes.io/service-account-token}"),
		"spec.secretTemplate.type", "fills such Secrets with a token"),
	Entry("secretTemplate type bootstrap token", okPasscode("secretTemplate: {type: bootstrap.kubernetes.io/token}"),
		"spec.secretTemplate.type", "a bearer token for joining nodes"),
	Entry("secretTemplate data key the operator writes", okPasscode("secretTemplate: {data: {passcode: x}}"), "spec.secretTemplate.data", "the operator writes them"),
	Entry("secretTemplate data key that is no data key", okPasscode("secretTemplate: {data: {'a/b': x}}"), "spec.secretTemplate.data", "keys must be Secret data keys"),
	Entry("secretTemplate data naming an unknown field", okPasscode("secretTemplate: {data: {API_KEY: '{{ .Password }}'}}"),
		"spec.secretTemplate.data", "only the fields .Passcode, .Email, .Account and .ExpiresAt"),
	Entry("secretTemplate data over 4096", okPasscode("secretTemplate: {data: {k: "+strings.Repeat("x", 4097)+"}}"), "spec.secretTemplate.data.k", "4096"),
	Entry("restart target of another kind", okPasscode("rolloutRestartTargets: [{kind: Job, name: etl}]"), "spec.rolloutRestartTargets[0].kind", "Unsupported value"),
	Entry("restart target named twice", okPasscode("rolloutRestartTargets: [{kind: Deployment, name: api}, {kind: Deployment, name: api}]"),
		"spec.rolloutRestartTargets[1]", "Duplicate value"),
	Entry("restart target without a name", okPasscode("rolloutRestartTargets: [{kind: Deployment}]"), "spec.rolloutRestartTargets[0].name", "Required value"),
	Entry("restart target with an upper-case name", okPasscode("rolloutRestartTargets: [{kind: Deployment, name: API}]"),
		"spec.rolloutRestartTargets[0].name", "must be the name of a workload"),
	Entry("secret copy to a bad namespace", okPasscode("secretCopies: [{namespace: Team_B}]"), "spec.secretCopies[0].namespace", "must be a namespace name"),
	Entry("secret copy with a bad name", okPasscode("secretCopies: [{namespace: team-b, name: 'a b'}]"), "spec.secretCopies[0].name", "DNS-1123"),
	Entry("secret copy named twice", okPasscode("secretCopies: [{namespace: team-b}, {namespace: team-b}]"), "spec.secretCopies[1]", "Duplicate value"),
	Entry("import without a Secret name", okPasscode("import: {secretRef: {}}"), "spec.import.secretRef.name", "Required value"),
	Entry("import from a bad Secret name", okPasscode("import: {secretRef: {name: 'Old Key'}}"), "spec.import.secretRef.name", "must be the name of a Secret"),
	Entry("secretTemplate data with 17 keys", okPasscode("secretTemplate: {data: {"+manyKeys(17)+"}}"), "spec.secretTemplate.data", "16"),
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d: x", i)
	}
	return strings.Join(keys, ", ")
}

var _ = Describe("CRD validation", func() {
	DescribeTable("refuses a bad manifest with a message naming the field",
		func(y, field, message string) {
			err := dryRunCreate(y)
			Expect(err).To(HaveOccurred(), "the API server accepted:\n%s", y)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		badManifests,
	)

	It("has a bad manifest for every rule", func() {
		Expect(len(badManifests)).To(BeNumerically(">=", 40))
	})

	DescribeTable("accepts good manifests",
		func(y string) { Expect(dryRunCreate(y)).To(Succeed()) },
		Entry("minimal user", user(okUser)),
		Entry("full user", user(okUser+"\ndisplayName: Jane Doe\naccess: Revoked\ninvite: {ttl: 30d}")),
		Entry("user with a custom role", user("email: jane@example.com\nrole: data-analyst")),
		Entry("custom role", role("data-analyst", "description: Reads reports, downloads exports\npermissions: [reports.read, exports.download]")),
		Entry("custom role with no permissions", "kind: DashboardRole\nmetadata: {name: viewer}\n"),
		Entry("custom role with every permission", role("everything", "permissions: ["+strings.Join(roles.KnownNames(), ", ")+"]")),
		Entry("user with plus addressing", user("email: jane+ops@mail.example.co.uk\nrole: Approver")),
		Entry("display name with accents and punctuation", user(okUser+"\ndisplayName: \"Zoë O'Brien-Núñez (ops) 🚀\"")),
		// The zero-width joiners are the format characters names need: an emoji sequence, Persian.
		Entry("display name with an emoji joined by U+200D", user(okUser+"\ndisplayName: \"Jane \\U0001F469\\u200D\\U0001F4BB\"")),
		Entry("display name with a zero-width non-joiner", user(okUser+"\ndisplayName: \"\\u0645\\u06CC\\u200C\\u062E\\u0648\\u0627\\u0647\\u0645\"")),
		Entry("email with a 63-character domain label", user("email: a@"+strings.Repeat("b", 63)+".io\nrole: Member")),
		Entry("minimal passcode", okPasscode("")),
		Entry("automatic rotation", okPasscode("rotation: {policy: Automatic, renewBefore: 29d, gracePeriod: 24h}")),
		Entry("longest tenure in minutes", passcode("userRef: {name: jane}\ntenure: 525600m")),
		Entry("longest tenure in hours", passcode("userRef: {name: jane}\ntenure: 8760h")),
		Entry("shortest tenure", passcode("userRef: {name: jane}\ntenure: 1m")),
		Entry("no grace", okPasscode("rotation: {gracePeriod: 0m}")),
		Entry("secret template", okPasscode("secretName: jane.api-key\nsecretTemplate: {labels: {team: data, example.com/tier: gold}, annotations: {note: hi}}")),
		Entry("revoked", okPasscode("revoked: true")),
		Entry("consumers", okPasscode("rolloutRestartTargets: [{kind: Deployment, name: api}, {kind: StatefulSet, name: api}, {kind: DaemonSet, name: agent}]\n"+
			"secretCopies: [{namespace: team-b}, {namespace: team-b, name: other}, {namespace: team-c, name: dashboard.key}]\nimport: {secretRef: {name: old-key}}")),
		Entry("secret type and data templates", okPasscode(`secretTemplate: {type: kubernetes.io/basic-auth, data: {username: '{{ .Email }}', `+
			`password: '{{.Passcode}}', API_KEY: 'Bearer {{ .Passcode }}', note: 'see example.com/.well-known', `+
			`config: '{"auth": "{{ printf "%s:%s" .Email .Passcode | b64enc }}", "account": {{ toJson .Account }}, "until": "{{.ExpiresAt}}"}'}}`)),
	)

	Describe("updates", func() {
		It("refuses a changed email, userRef, secretName and an unset revoked", func() {
			u := manifest(user(okUser))
			u.SetName("immutable-jane")
			Expect(k8sClient.Create(ctx, u)).To(Succeed())
			Expect(unstructured.SetNestedField(u.Object, "john@example.com", "spec", "email")).To(Succeed())
			err := k8sClient.Update(ctx, u)
			Expect(err).To(MatchError(And(ContainSubstring("spec.email"), ContainSubstring("is immutable"))))

			pc := manifest(okPasscode("secretName: first\nrevoked: true"))
			pc.SetName("immutable-api")
			Expect(k8sClient.Create(ctx, pc)).To(Succeed())
			for _, c := range []struct {
				path    []string
				value   any
				field   string
				message string
			}{
				{[]string{"spec", "userRef", "name"}, "john", "spec.userRef", "is immutable"},
				{[]string{"spec", "secretName"}, "second", "spec.secretName", "is immutable"},
				{[]string{"spec", "revoked"}, false, "spec.revoked", "cannot be unset"},
			} {
				changed := pc.DeepCopy()
				Expect(unstructured.SetNestedField(changed.Object, c.value, c.path...)).To(Succeed())
				Expect(k8sClient.Update(ctx, changed)).To(MatchError(And(ContainSubstring(c.field), ContainSubstring(c.message))), "%v", c.path)
			}
			typed := manifest(okPasscode("secretTemplate: {type: kubernetes.io/basic-auth}"))
			typed.SetName("typed-api")
			Expect(k8sClient.Create(ctx, typed)).To(Succeed())
			for _, change := range []func(*unstructured.Unstructured){
				func(u *unstructured.Unstructured) {
					_ = unstructured.SetNestedField(u.Object, "Opaque", "spec", "secretTemplate", "type")
				},
				func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "secretTemplate") },
			} {
				changed := typed.DeepCopy()
				change(changed)
				Expect(k8sClient.Update(ctx, changed)).To(MatchError(And(ContainSubstring("spec.secretTemplate.type"), ContainSubstring("is immutable"))))
			}
			imported := pc.DeepCopy() // import cannot be added after the first passcode
			Expect(unstructured.SetNestedField(imported.Object, "old-key", "spec", "import", "secretRef", "name")).To(Succeed())
			Expect(k8sClient.Update(ctx, imported)).To(MatchError(And(ContainSubstring("spec.import"), ContainSubstring("is immutable"))))
			opaque := pc.DeepCopy() // no secretTemplate: Opaque, and saying so is no change
			Expect(unstructured.SetNestedField(opaque.Object, "Opaque", "spec", "secretTemplate", "type")).To(Succeed())
			Expect(k8sClient.Update(ctx, opaque)).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pc), pc)).To(Succeed())

			removed := pc.DeepCopy()
			unstructured.RemoveNestedField(removed.Object, "spec", "revoked")
			Expect(k8sClient.Update(ctx, removed)).To(MatchError(ContainSubstring("spec.revoked")))
			unstructured.RemoveNestedField(removed.Object, "spec", "secretName")
			Expect(k8sClient.Update(ctx, removed)).To(MatchError(ContainSubstring("spec.secretName")))
		})
	})
})

// The CRD's CEL rules and internal/duration must accept exactly the same strings: a value the API
// server admitted has to parse in the controller, and a value the parser takes must not be refused.
var _ = Describe("CEL and internal/duration agree", func() {
	candidates := func() []string {
		fixed := []string{ //nolint:prealloc // a literal list, then random ones
			"", "0", "m", "0m", "1m", "00m", "01m", "59m", "60m", "1h", "24h", "25h", "1d", "2d",
			"7d", "29d", "30d", "31d", "365d", "366d", "8760h", "8761h", "525600m", "525601m", "1440m", "1441m",
			"43200m", "43201m", "720h", "721h", "999999m", "1000000m", "99999d", "-1m", "+1m", "1.5h", "1h30m",
			"1M", "1D", "1s", "1w", " 1m", "1m ", "1 m", "٣m", "1mm", "1hm"}
		r := rand.New(rand.NewPCG(7, 11)) // fixed seed: the same candidates every run
		alphabet := []rune("0123456789dhm-x. ")
		for range 150 {
			n := r.IntN(9)
			b := make([]rune, n)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			fixed = append(fixed, string(b))
		}
		return fixed
	}()

	// field names a duration of the API, a manifest that holds a value in it, and what Go says.
	type field struct {
		name     string
		manifest func(v string) string
		goAccept func(v string) bool
	}
	fields := []field{
		{"spec.tenure", func(v string) string { return passcode(fmt.Sprintf("userRef: {name: jane}\ntenure: %q", v)) },
			func(v string) bool { _, err := duration.Tenure(v); return err == nil }},
		{"spec.rotation.renewBefore", func(v string) string { return okPasscode(fmt.Sprintf("rotation: {renewBefore: %q}", v)) },
			func(v string) bool { _, err := duration.RenewBefore(v, 30*duration.Day); return err == nil }},
		{"spec.rotation.gracePeriod", func(v string) string { return okPasscode(fmt.Sprintf("rotation: {gracePeriod: %q}", v)) },
			func(v string) bool { _, err := duration.GracePeriod(v); return err == nil }},
		{"spec.invite.ttl", func(v string) string { return user(okUser + fmt.Sprintf("\ninvite: {ttl: %q}", v)) },
			func(v string) bool { _, err := duration.InviteTTL(v); return err == nil }},
	}

	for _, f := range fields {
		It("on "+f.name, func() {
			accepted := 0
			for _, v := range candidates {
				if v == "" && f.name != "spec.tenure" {
					// In Go an empty optional field is an absent one, which the API server accepts;
					// an explicit empty string is refused there and can never reach the controller.
					continue
				}
				apiErr := dryRunCreate(f.manifest(v))
				goOK := f.goAccept(v)
				Expect(apiErr == nil).To(Equal(goOK), "%s=%q: API server error %v, Go accepts %v", f.name, v, apiErr, goOK)
				if goOK {
					accepted++
				}
			}
			Expect(accepted).To(BeNumerically(">", 5), "the candidates must exercise accepted values too")
		})
	}
})
