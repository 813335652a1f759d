package plugin_test

import (
	"fmt"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/plugin"
	usersrules "github.com/dashboardops/access-operator/internal/users"
)

// users lists the DashboardUsers of ns by name.
func users(ns string) map[string]accessv1alpha1.DashboardUser {
	GinkgoHelper()
	var list accessv1alpha1.DashboardUserList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	m := map[string]accessv1alpha1.DashboardUser{}
	for _, u := range list.Items {
		m[u.Name] = u
	}
	return m
}

func writeFile(name, content string) string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), name)
	Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
	return path
}

var _ = Describe("invite", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates one DashboardUser per email, with the derived name and the role", func() {
		r := run("invite", "-n", ns, "--role", "Creator", "ana@example.com", "bob.smith@example.com", "carl@example.org").succeed()
		Expect(r.Out).To(ContainSubstring("3 users successfully invited\n"))

		got := users(ns)
		Expect(got).To(HaveLen(3))
		for _, email := range []string{"ana@example.com", "bob.smith@example.com", "carl@example.org"} {
			name := usersrules.ObjectNameForEmail(email)
			Expect(got).To(HaveKey(name))
			Expect(got[name].Spec.Email).To(Equal(email))
			Expect(got[name].Spec.Role).To(Equal(accessv1alpha1.RoleCreator))
			Expect(got[name].Spec.Access).To(Equal(accessv1alpha1.AccessGranted))
			Expect(r.Out).To(ContainSubstring("dashboarduser/%s created: %s as Creator\n", name, email))
		}
		Expect(got).To(HaveKey("bob-smith-example-com-a3986081"), "the name is the address made DNS-safe plus 8 hex of its SHA-256")

		By("inviting them again: reported, not duplicated, not an error")
		r = run("invite", "-n", ns, "--role", "Admin", "ana@example.com", "bob.smith@example.com", "carl@example.org").succeed()
		Expect(r.Out).To(ContainSubstring("already invited: ana@example.com (dashboarduser/%s)", usersrules.ObjectNameForEmail("ana@example.com")))
		Expect(r.Out).To(ContainSubstring("0 users successfully invited\n"))
		Expect(users(ns)).To(HaveLen(3))
		Expect(users(ns)[usersrules.ObjectNameForEmail("ana@example.com")].Spec.Role).To(Equal(accessv1alpha1.RoleCreator), "an existing user is left alone")
	})

	It("finds a user already invited under another name by email, and invites a duplicate email once", func() {
		Expect(k8sClient.Create(ctx, &accessv1alpha1.DashboardUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane"},
			Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleMember},
		})).To(Succeed())
		r := run("invite", "-n", ns, "--role", "Member", "jane@example.com", "omar@example.com", "omar@example.com").succeed()
		Expect(r.Out).To(ContainSubstring("already invited: jane@example.com (dashboarduser/jane)\n"))
		Expect(r.Out).To(ContainSubstring("1 users successfully invited\n"))
		Expect(users(ns)).To(HaveLen(2))
	})

	It("refuses more than 50 users, and creates nothing", func() {
		args := make([]string, 0, 56)
		args = append(args, "invite", "-n", ns, "--role", "Member")
		for i := range 51 {
			args = append(args, fmt.Sprintf("user%02d@example.com", i))
		}
		r := run(args...).fail(plugin.ExitUsage, "51 users to invite: at most 50")
		Expect(r.Out).To(BeEmpty())
		Expect(users(ns)).To(BeEmpty())
		run("users", "list", "-n", ns).succeed()

		By("50 is fine")
		r = run(args[:len(args)-1]...).succeed()
		Expect(r.Out).To(ContainSubstring("50 users successfully invited"))
		Expect(users(ns)).To(HaveLen(50))
	})

	It("refuses the whole call when one email or role is bad, naming every one", func() {
		run("invite", "-n", ns, "--role", "Member", "ok@example.com", "Upper@Example.com", "not-an-email").
			fail(plugin.ExitUsage, `argument 2 ("Upper@Example.com")`, "must be lower case", `did you mean "upper@example.com"?`, `argument 3 ("not-an-email")`)
		run("invite", "-n", ns, "--role", "Owner", "ok@example.com").fail(plugin.ExitUsage, `invalid role "Owner"`)
		run("invite", "-n", ns, "ok@example.com").fail(plugin.ExitUsage, "no role")
		run("invite", "-n", ns, "--role", "Member").fail(plugin.ExitUsage, "no one to invite")
		Expect(users(ns)).To(BeEmpty())
	})

	It("reads --from-file: emails, or CSV email,role,name, with --role as the default", func() {
		file := writeFile("team.csv", `# the analytics team
email,role,name
ana@example.com,Admin,Ana Lima

bob@example.com
"carl@example.com",Approver,"Doe, Carl ""CJ"""
dee@example.com,,Dee
`)
		r := run("invite", "-n", ns, "--role", "Member", "--from-file", file).succeed()
		Expect(r.Out).To(ContainSubstring("4 users successfully invited"))
		got := users(ns)
		want := map[string][2]string{ // email -> role, displayName
			"ana@example.com":  {"Admin", "Ana Lima"},
			"bob@example.com":  {"Member", ""},
			"carl@example.com": {"Approver", `Doe, Carl "CJ"`},
			"dee@example.com":  {"Member", "Dee"},
		}
		Expect(got).To(HaveLen(len(want)))
		for email, w := range want {
			u := got[usersrules.ObjectNameForEmail(email)]
			Expect(u.Spec.Email).To(Equal(email))
			Expect(string(u.Spec.Role)).To(Equal(w[0]), email)
			Expect(u.Spec.DisplayName).To(Equal(w[1]), email)
		}

		By("a file with bad lines creates nothing and names each line")
		bad := writeFile("bad.csv", "eve@example.com,Admin\nfay@example.com,Boss\nGus@example.com\n")
		run("invite", "-n", ns, "--role", "Member", "--from-file", bad).
			fail(plugin.ExitUsage, "bad.csv:2: invalid role \"Boss\"", "bad.csv:3: invalid email \"Gus@example.com\"")
		Expect(users(ns)).To(HaveLen(4))

		run("invite", "-n", ns, "--role", "Member", "--from-file", filepath.Join(GinkgoT().TempDir(), "missing.csv")).
			fail(plugin.ExitUsage, "--from-file", "missing.csv")
	})

	It("creates nothing with --dry-run=client or --dry-run=server", func() {
		r := run("invite", "-n", ns, "--role", "Member", "--dry-run=client", "ana@example.com", "bob@example.com").succeed()
		Expect(r.Out).To(ContainSubstring("2 users successfully invited (dry run)"))
		Expect(users(ns)).To(BeEmpty())

		r = run("invite", "-n", ns, "--role", "Member", "--dry-run=server", "ana@example.com", "bob@example.com").succeed()
		Expect(r.Out).To(ContainSubstring("dashboarduser/%s created: ana@example.com as Member (server dry run)", usersrules.ObjectNameForEmail("ana@example.com")))
		Expect(r.Out).To(ContainSubstring("2 users successfully invited (server dry run)"))
		Expect(users(ns)).To(BeEmpty())

		run("invite", "-n", ns, "--role", "Member", "--dry-run=maybe", "ana@example.com").fail(plugin.ExitUsage, "--dry-run")
		Expect(users(ns)).To(BeEmpty())
	})

	It("fails with exit code 1 when the namespace does not exist", func() {
		run("invite", "-n", "no-such-project", "--role", "Member", "ana@example.com").fail(plugin.ExitAPIError, "no-such-project")
	})
})
