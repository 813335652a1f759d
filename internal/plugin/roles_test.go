package plugin_test

import (
	"bytes"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/plugin"
)

func getRole(ns, name string) (*accessv1alpha1.DashboardRole, error) {
	r := &accessv1alpha1.DashboardRole{}
	return r, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r)
}

// complete is what shell completion offers for the last of args (cobra's __complete), with the
// admin kubeconfig given before it (run would append it, and it would be completed instead).
func complete(args ...string) string {
	GinkgoHelper()
	var out bytes.Buffer
	cmd := plugin.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: GinkgoWriter})
	cmd.SetArgs(append([]string{"__complete", "--kubeconfig", kubeconfig}, args...))
	Expect(cmd.ExecuteContext(ctx)).To(Succeed())
	return out.String()
}

var _ = Describe("roles", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	Describe("create", func() {
		It("creates a DashboardRole from repeated and comma-separated --permission, in vocabulary order", func() {
			r := run("roles", "create", "analyst", "-n", ns, "--permission", "exports.download", "--permission", "reports.read,dashboards.read",
				"--description", "reads and downloads").succeed()
			Expect(r.Out).To(Equal("dashboardrole/analyst created with permissions reports.read, dashboards.read, exports.download\n"))
			role, err := getRole(ns, "analyst")
			Expect(err).NotTo(HaveOccurred())
			Expect(role.Spec.Description).To(Equal("reads and downloads"))
			Expect(role.Spec.Permissions).To(Equal([]accessv1alpha1.Permission{"reports.read", "dashboards.read", "exports.download"}))
			Expect(pluginFields(role)).To(ContainSubstring(`"f:permissions"`))

			By("a role that exists is refused, and left as it was")
			run("roles", "create", "analyst", "-n", ns, "--permission", "reports.write").
				fail(plugin.ExitAPIError, `dashboardrole "analyst" already exists in project (namespace) "`+ns+`"`)
			role, _ = getRole(ns, "analyst")
			Expect(role.Spec.Permissions).To(HaveLen(3))
		})

		It("writes nothing with --dry-run=client or server", func() {
			Expect(run("roles", "create", "dry", "-n", ns, "-p", "reports.read", "--dry-run=client").succeed().Out).To(HaveSuffix(" (dry run)\n"))
			Expect(run("roles", "create", "dry", "-n", ns, "-p", "reports.read", "--dry-run=server").succeed().Out).To(HaveSuffix(" (server dry run)\n"))
			_, err := getRole(ns, "dry")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("refuses bad names, permissions and descriptions before writing, naming the argument or flag (exit code 2)", func() {
			allowed := "must be one of reports.read, reports.write, dashboards.read"
			run("roles", "create", "Admin", "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "NAME:", "the system role Admin is built in")
			run("roles", "create", "approver", "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "the system role Approver is built in")
			run("roles", "create", "Analyst", "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "NAME:", "lower-case", `did you mean "analyst"?`)
			run("roles", "create", strings.Repeat("a", 64), "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "at most 63 characters")
			run("roles", "create", "a.b", "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "lower-case letters, digits and '-'")
			run("roles", "create", "analyst", "-n", ns, "-p", "Reports.Read").
				fail(plugin.ExitUsage, "--permission:", `unknown permission "Reports.Read" (did you mean reports.read?)`, allowed)
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read,report.write,frobnicate").
				fail(plugin.ExitUsage, `"report.write" (did you mean reports.write?), "frobnicate": `+allowed)
			run("roles", "create", "analyst", "-n", ns).fail(plugin.ExitUsage, "--permission:", "no permission given", "reports.read")
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read", "--description", "two\nlines").
				fail(plugin.ExitUsage, "--description:", "control characters")
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read", "--description", strings.Repeat("x", 257)).
				fail(plugin.ExitUsage, "--description:", "at most 256 characters")
			run("roles", "create", "-n", ns, "-p", "reports.read").fail(plugin.ExitUsage, "expects NAME")
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read", "--dry-run=maybe").fail(plugin.ExitUsage, "--dry-run")
			var list accessv1alpha1.DashboardRoleList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			Expect(list.Items).To(BeEmpty())
		})
	})

	Describe("list", func() {
		It("shows the system roles, built in, then the DashboardRoles with the users that name each", func() {
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read,exports.download", "--description", "reads").succeed()
			createUser(ns, "jane", "jane@example.com", "analyst", "")
			createUser(ns, "omar", "omar@example.com", accessv1alpha1.RoleMember, "")
			out := run("roles", "list", "-n", ns).succeed().Out
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			Expect(lines).To(HaveLen(6))
			Expect(strings.Fields(lines[0])).To(Equal([]string{"ROLE", "TYPE", "DESCRIPTION", "PERMISSIONS", "USERS", "AGE"}))
			Expect(lines[1]).To(MatchRegexp(`^Admin\s+built-in\s+every permission\s+all \(13\)\s+0\s+-$`))
			Expect(lines[3]).To(MatchRegexp(`^Member\s+built-in\s+.*\s+reports.read,dashboards.read,segments.read,campaigns.read\s+1\s+-$`))
			Expect(lines[5]).To(MatchRegexp(`^analyst\s+custom\s+reads\s+reports.read,exports.download\s+1\s+\d+s$`))
			Expect(run("roles", "ls", "-n", ns, "-o", "wide").succeed().Out).To(MatchRegexp(`(?m)^analyst\s+custom\s+reads\s+\S+\s+1\s+Unknown\s+\d+s$`))

			By("-o name and -A show the DashboardRoles only")
			Expect(run("roles", "list", "-n", ns, "-o", "name").succeed().Out).To(Equal("dashboardrole/analyst\n"))
			Expect(run("roles", "list", "-A", "--no-headers").succeed().Out).To(MatchRegexp(`(?m)^%s\s+analyst\s+custom\s`, ns))
			Expect(run("roles", "list", "-A").succeed().Out).NotTo(ContainSubstring("built-in"))

			By("-l filters the DashboardRoles")
			r := run("roles", "list", "-n", ns, "-l", "team=ops").succeed()
			Expect(r.Out).To(BeEmpty())
			Expect(r.ErrOut).To(ContainSubstring("No dashboard roles found in project (namespace) " + ns))
		})

		It("prints only the DashboardRoles with -o yaml, in a List the API server takes back", func() {
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read").succeed()
			out := run("roles", "list", "-n", ns, "-o", "yaml").succeed().Out
			var list metav1.List
			Expect(yaml.UnmarshalStrict([]byte(out), &list)).To(Succeed())
			Expect(list.Kind).To(Equal("List"))
			Expect(list.Items).To(HaveLen(1))
			var role accessv1alpha1.DashboardRole
			Expect(yaml.Unmarshal(list.Items[0].Raw, &role)).To(Succeed())
			Expect(role.Kind).To(Equal("DashboardRole"))
			Expect(role.Spec.Permissions).To(Equal([]accessv1alpha1.Permission{"reports.read"}))
			Expect(k8sClient.Update(ctx, &role)).To(Succeed())
			Expect(out).NotTo(ContainSubstring("Admin"))

			run("roles", "list", "-n", ns, "-o", "toml").fail(plugin.ExitUsage, `invalid --output "toml"`)
		})
	})

	Describe("describe", func() {
		It("shows a custom or system role's permissions, explained, and its users", func() {
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read").succeed()
			createUser(ns, "jane", "jane@example.com", "analyst", "")
			out := run("roles", "describe", "analyst", "-n", ns).succeed().Out
			Expect(out).To(MatchRegexp(`(?m)^Type:\s+custom$`))
			Expect(out).To(MatchRegexp(`(?m)^  reports.read\s+view reports`))
			Expect(out).To(MatchRegexp(`(?m)^Users:\s+1\n  jane@example.com$`))
			Expect(run("roles", "describe", "Approver", "-n", ns).succeed().Out).To(MatchRegexp(`(?m)^  campaigns.approve\s+approve campaigns`))
			run("roles", "describe", "nope", "-n", ns).fail(plugin.ExitAPIError, `dashboardrole "nope" not found`)
			run("roles", "describe", "admin", "-n", ns).fail(plugin.ExitUsage, "did you mean Admin?")
		})
	})

	Describe("delete", func() {
		It("refuses a role users name unless --force, naming them (exit code 1)", func() {
			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read").succeed()
			for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
				createUser(ns, n, n+"@example.com", "analyst", "")
			}
			r := run("roles", "delete", "analyst", "-n", ns).fail(plugin.ExitAPIError,
				`dashboardrole "analyst" is in use: 6 users name this role (a@example.com, b@example.com, c@example.com, d@example.com, e@example.com, and 1 more)`,
				"stop being Ready", "--force")
			Expect(r.Out).To(BeEmpty())
			_, err := getRole(ns, "analyst")
			Expect(err).NotTo(HaveOccurred())

			By("--dry-run=server --force deletes nothing")
			run("roles", "delete", "analyst", "-n", ns, "--force", "--dry-run=server").succeed()
			_, err = getRole(ns, "analyst")
			Expect(err).NotTo(HaveOccurred())

			r = run("roles", "delete", "analyst", "-n", ns, "--force").succeed()
			Expect(r.Out).To(Equal("dashboardrole/analyst deleted\n"))
			Expect(r.ErrOut).To(ContainSubstring("Warning: 6 users name this role"))
			_, err = getRole(ns, "analyst")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("deletes a role nobody names; a missing role is exit 1, a system role exit 2", func() {
			run("roles", "create", "unused", "-n", ns, "-p", "reports.read").succeed()
			Expect(run("roles", "delete", "unused", "-n", ns).succeed().Out).To(Equal("dashboardrole/unused deleted\n"))
			run("roles", "delete", "unused", "-n", ns).fail(plugin.ExitAPIError, `dashboardrole "unused" not found in project (namespace) "`+ns+`"`)
			run("roles", "delete", "Admin", "-n", ns).fail(plugin.ExitUsage, "the system role Admin is built in")
			run("roles", "delete", "member", "-n", ns).fail(plugin.ExitUsage, "the system role Member is built in")
			run("roles", "delete", "-n", ns).fail(plugin.ExitUsage, "expects NAME")
		})
	})

	Describe("set-role and invite with a custom role", func() {
		It("accept a DashboardRole that exists, and refuse one that does not unless --allow-missing-role", func() {
			createUser(ns, "jane", "jane@example.com", accessv1alpha1.RoleMember, "")
			missing := `role "analyst" does not exist: create the DashboardRole "analyst" in namespace "` + ns + `" or use a system role ` +
				`(Admin, Creator, Member or Approver)`
			run("users", "set-role", "jane", "analyst", "-n", ns).fail(plugin.ExitAPIError, missing, "--allow-missing-role")
			run("invite", "--role", "analyst", "omar@example.com", "-n", ns).fail(plugin.ExitAPIError, missing)
			Expect(users(ns)).To(HaveLen(1))
			Expect(getUser(ns, "jane").Spec.Role).To(Equal(accessv1alpha1.RoleMember))

			run("users", "set-role", "jane", "later", "-n", ns, "--allow-missing-role").succeed()
			Expect(getUser(ns, "jane").Spec.Role).To(Equal(accessv1alpha1.Role("later")))

			run("roles", "create", "analyst", "-n", ns, "-p", "reports.read").succeed()
			Expect(run("users", "set-role", "jane@example.com", "analyst", "-n", ns).succeed().Out).
				To(Equal("dashboarduser/jane role changed from later to analyst\n"))
			run("invite", "--role", "analyst", "omar@example.com", "-n", ns).succeed()
			Expect(users(ns)).To(HaveLen(2))

			By("completion offers the system roles and the project's DashboardRoles")
			Expect(complete("users", "set-role", "-n", ns, "jane", "")).To(HavePrefix("Admin\nCreator\nMember\nApprover\nanalyst\n:"))
			Expect(complete("invite", "-n", ns, "--role", "")).To(HavePrefix("Admin\nCreator\nMember\nApprover\nanalyst\n:"))
			Expect(complete("roles", "delete", "-n", ns, "")).To(HavePrefix("analyst\n:"))

			By("a system role in another case is still a usage error")
			run("users", "set-role", "jane", "admin", "-n", ns).fail(plugin.ExitUsage, "did you mean Admin?")
		})
	})

	It("says what RBAC forbids, naming the verb and the resource (exit code 1)", func() {
		Expect(k8sClient.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "roles-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"dashboardroles", "dashboardusers"},
				Verbs: []string{"get", "list"}}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "roles-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "roles-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "roles-reader-" + ns}},
		})).To(Succeed())
		reader := writeKubeconfig(envtest.User{Name: "roles-reader-" + ns}, "roles-reader")
		Eventually(func() int { return runAs(reader, "roles", "list", "-n", ns).Code }).Should(Equal(plugin.ExitOK))

		runAs(reader, "roles", "create", "analyst", "-n", ns, "-p", "reports.read").
			fail(plugin.ExitAPIError, `not allowed to create dashboardroles in project (namespace) "`+ns+`"`, "forbidden")
		run("roles", "create", "analyst", "-n", ns, "-p", "reports.read").succeed()
		runAs(reader, "roles", "delete", "analyst", "-n", ns).fail(plugin.ExitAPIError, "not allowed to delete dashboardroles")
		runAs(reader, "roles", "list", "-A").fail(plugin.ExitAPIError, "not allowed to list dashboardroles")
	})
})
