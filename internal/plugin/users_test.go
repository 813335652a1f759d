package plugin_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/plugin"
)

// createUser makes a DashboardUser as `kubectl apply` would.
func createUser(ns, name, email string, role accessv1alpha1.Role, displayName string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: email, Role: role, DisplayName: displayName},
	})).To(Succeed())
}

func getUser(ns, name string) *accessv1alpha1.DashboardUser {
	GinkgoHelper()
	u := &accessv1alpha1.DashboardUser{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
	return u
}

// pluginFields is what metadata.managedFields says the plugin set on obj.
func pluginFields(obj client.Object) string {
	GinkgoHelper()
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == plugin.FieldManager {
			Expect(mf.FieldsV1).NotTo(BeNil())
			return mf.FieldsV1.GetRawString()
		}
	}
	Fail("the plugin set no field")
	return ""
}

// exported is one user as the export must show it, written out by hand from what the test set.
type exported struct {
	Project, Name, Role, Email, UserStatus, LastLogin, PasscodeStatus string
}

var _ = Describe("users", func() {
	var ns string
	lastLogin := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

	BeforeEach(func() { ns = newNamespace() })

	// aProject has three users; jane has the status the operator would write after a login.
	aProject := func() []exported {
		createUser(ns, "jane", "jane@example.com", accessv1alpha1.RoleAdmin, "Doe, Jane \"JD\" of Sales")
		createUser(ns, "omar", "omar@example.com", accessv1alpha1.RoleMember, "Omar")
		createUser(ns, "abe", "abe@example.com", accessv1alpha1.RoleApprover, "")
		jane := getUser(ns, "jane")
		jane.Status.Phase = accessv1alpha1.UserActive
		jane.Status.LastLoginAt = &metav1.Time{Time: lastLogin}
		jane.Status.PasscodeStatus = accessv1alpha1.PasscodeSummaryExpiring
		Expect(k8sClient.Status().Update(ctx, jane)).To(Succeed())
		omar := getUser(ns, "omar")
		omar.Status.Phase = accessv1alpha1.UserInvited
		Expect(k8sClient.Status().Update(ctx, omar)).To(Succeed())
		return []exported{ // sorted by email
			{ns, "", "Approver", "abe@example.com", "Pending", "", "None"},
			{ns, "Doe, Jane \"JD\" of Sales", "Admin", "jane@example.com", "Active", "2026-02-03T04:05:06Z", "Expiring"},
			{ns, "Omar", "Member", "omar@example.com", "Invited", "", "None"},
		}
	}

	Describe("list", func() {
		It("shows USER, NAME, ROLE, EMAIL, USER STATUS, LAST LOGIN, PASSCODE-STATUS", func() {
			aProject()
			out := run("users", "list", "-n", ns).succeed().Out
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			Expect(lines).To(HaveLen(4))
			Expect(strings.Fields(lines[0])).To(Equal([]string{"USER", "NAME", "ROLE", "EMAIL", "USER", "STATUS", "LAST", "LOGIN", "PASSCODE-STATUS"}))
			Expect(strings.Fields(lines[1])).To(Equal([]string{"abe", "Approver", "abe@example.com", "Pending", "None"}))
			Expect(strings.Fields(lines[2])).To(Equal([]string{"jane", "Doe,", "Jane", `"JD"`, "of", "Sales", "Admin", "jane@example.com", "Active",
				"2026-02-03T04:05:06Z", "Expiring"}))
			Expect(strings.Fields(lines[3])).To(Equal([]string{"omar", "Omar", "Member", "omar@example.com", "Invited", "None"}))
			// Columns line up: every EMAIL starts where the header's does.
			col := strings.Index(lines[0], "EMAIL")
			for _, l := range lines[1:] {
				Expect(l[col:]).To(MatchRegexp(`^[a-z]+@example\.com`))
			}
		})

		It("adds NAMESPACE with -A, and says so when a project has no users", func() {
			aProject()
			other := newNamespace()
			createUser(other, "zoe", "zoe@example.com", accessv1alpha1.RoleCreator, "Zoe")
			out := run("users", "list", "-A").succeed().Out
			Expect(out).To(HavePrefix("NAMESPACE "))
			Expect(out).To(MatchRegexp(`(?m)^%s\s+jane\s`, ns))
			Expect(out).To(MatchRegexp(`(?m)^%s\s+zoe\s+Zoe\s+Creator\s+zoe@example.com\s+Pending\s+None$`, other))

			r := run("users", "list", "-n", newNamespace()).succeed()
			Expect(r.Out).To(BeEmpty())
			Expect(r.ErrOut).To(ContainSubstring("No users found"))
		})

		It("prints the DashboardUsers themselves with -o json and yaml, in a List that round-trips", func() {
			aProject()
			out := run("users", "list", "-n", ns, "-o", "json").succeed().Out
			var list struct {
				APIVersion, Kind string
				Items            []accessv1alpha1.DashboardUser
			}
			Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
			Expect(list.APIVersion).To(Equal("v1"))
			Expect(list.Kind).To(Equal("List"))
			Expect(list.Items).To(HaveLen(3))
			jane := getUser(ns, "jane")
			Expect(list.Items[1].Spec).To(Equal(jane.Spec))
			Expect(list.Items[1].Status).To(Equal(jane.Status))
			Expect(list.Items[1].UID).To(Equal(jane.UID))
			Expect(list.Items[1].TypeMeta).To(Equal(metav1.TypeMeta{APIVersion: "access.dashboardops.io/v1alpha1", Kind: "DashboardUser"}))

			By("-o yaml decodes as the same objects, and updates them unchanged")
			var fromYAML metav1.List
			Expect(yaml.UnmarshalStrict([]byte(run("users", "list", "-n", ns, "-o", "yaml").succeed().Out), &fromYAML)).To(Succeed())
			Expect(fromYAML.Items).To(HaveLen(3))
			var u accessv1alpha1.DashboardUser
			Expect(yaml.Unmarshal(fromYAML.Items[1].Raw, &u)).To(Succeed())
			Expect(u.Spec).To(Equal(jane.Spec))
			Expect(k8sClient.Update(ctx, &u)).To(Succeed(), "what -o yaml prints is an object the API server takes back")

			By("an empty project is an empty List, not a message")
			empty := run("users", "list", "-n", newNamespace(), "-o", "json").succeed()
			Expect(empty.Out).To(MatchJSON(`{"apiVersion":"v1","kind":"List","items":[],"metadata":{"resourceVersion":""}}`))
			Expect(empty.ErrOut).To(BeEmpty())
		})

		It("takes -o name, jsonpath, custom-columns, --no-headers and -l", func() {
			aProject()
			omar := getUser(ns, "omar")
			omar.Labels = map[string]string{"team": "sales", "test": ns} // other tests' projects share the API server
			Expect(k8sClient.Update(ctx, omar)).To(Succeed())

			Expect(run("users", "list", "-n", ns, "-o", "name").succeed().Out).To(Equal("dashboarduser/abe\ndashboarduser/jane\ndashboarduser/omar\n"))
			Expect(run("users", "list", "-n", ns, "-o", "jsonpath={.items[*].spec.email}").succeed().Out).
				To(Equal("abe@example.com jane@example.com omar@example.com"))
			Expect(run("users", "list", "-n", ns, "-o", "custom-columns=EMAIL:.spec.email,ROLE:.spec.role", "--no-headers").succeed().Out).
				To(MatchRegexp(`^abe@example.com\s+Approver\njane@example.com\s+Admin\nomar@example.com\s+Member\n$`))
			Expect(run("users", "list", "-n", ns, "-l", "team=sales", "-o", "name").succeed().Out).To(Equal("dashboarduser/omar\n"))
			Expect(run("users", "list", "-A", "-l", "team=sales,test="+ns, "-o", "name").succeed().Out).To(Equal("dashboarduser/omar\n"))
			Expect(run("users", "list", "-n", ns, "-l", "team!=sales", "--no-headers").succeed().Out).To(MatchRegexp(`^abe\s.*\njane\s.*\n$`))
			r := run("users", "list", "-n", ns, "-l", "team=ops").succeed()
			Expect(r.Out).To(BeEmpty())
			Expect(r.ErrOut).To(Equal(fmt.Sprintf("No users found in project (namespace) %s matching \"team=ops\".\n", ns)))
			Expect(run("users", "list", "-n", ns, "-o", "wide").succeed().Out).To(MatchRegexp(`(?m)^omar\s+Omar\s+Member\s+omar@example.com\s+Invited\s+None\s+Granted\s+Unknown\s+\d+s$`))
		})

		It("reads and prints a page at a time (--chunk-size): every user once, one header", func() {
			want := aProject()
			whole := run("users", "list", "-n", ns).succeed().Out
			paged := run("users", "list", "-n", ns, "--chunk-size", "1").succeed().Out
			wholeLines, pagedLines := strings.Split(whole, "\n"), strings.Split(paged, "\n")
			Expect(pagedLines).To(HaveLen(len(wholeLines)))
			for i := range wholeLines { // each page lines up on its own: the same cells, maybe spaced otherwise
				Expect(strings.Fields(pagedLines[i])).To(Equal(strings.Fields(wholeLines[i])))
			}
			Expect(run("users", "export", "-n", ns, "--chunk-size", "1").succeed().Out).To(Equal(run("users", "export", "-n", ns).succeed().Out))
			Expect(run("users", "list", "-n", ns, "--chunk-size", "2", "-o", "name").succeed().Out).To(Equal("dashboarduser/abe\ndashboarduser/jane\ndashboarduser/omar\n"))
			var list accessv1alpha1.DashboardUserList
			Expect(json.Unmarshal([]byte(run("users", "export", "-n", ns, "--chunk-size", "2", "-o", "json").succeed().Out), &list)).To(Succeed())
			Expect(list.Items).To(HaveLen(len(want)))
			Expect(run("users", "list", "-n", ns, "--chunk-size", "0").succeed().Out).To(Equal(whole), "0 reads them in one request")

			r := run("users", "list", "-n", newNamespace(), "--chunk-size", "1").succeed()
			Expect(r.Out).To(BeEmpty())
			Expect(r.ErrOut).To(ContainSubstring("No users found"))
			run("users", "export", "-n", ns, "--chunk-size", "-1").fail(plugin.ExitUsage, "invalid --chunk-size -1: must be 0 (all in one request) or more")
		})

		It("refuses a bad -o or -l before reading anything, naming the flag (exit code 2)", func() {
			run("users", "list", "-n", ns, "-o", "toml").fail(plugin.ExitUsage, `invalid --output "toml": allowed formats are custom-columns, custom-columns-file, go-template`)
			run("users", "list", "-n", ns, "-o", "jsonpath={.items[").fail(plugin.ExitUsage, `invalid --output "jsonpath={.items["`)
			run("users", "list", "-n", ns, "-o", "custom-columns=EMAIL").fail(plugin.ExitUsage, `invalid --output "custom-columns=EMAIL"`)
			run("users", "list", "-n", ns, "-l", "team in (a").fail(plugin.ExitUsage, `invalid --selector "team in (a"`)
			run("users", "list", "-n", ns, "-o", "csv").fail(plugin.ExitUsage, `invalid --output "csv"`)
		})
	})

	Describe("export", func() {
		It("round-trips every user through CSV, with the exact header and RFC 4180 quoting", func() {
			want := aProject()
			out := run("users", "export", "-n", ns).succeed().Out
			records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			Expect(err).NotTo(HaveOccurred())
			Expect(records[0]).To(Equal([]string{"Name", "Role", "Email", "User Status", "Last Login", "Passcode-Status"}))
			Expect(records).To(HaveLen(len(want) + 1))
			for i, w := range want {
				Expect(records[i+1]).To(Equal([]string{w.Name, w.Role, w.Email, w.UserStatus, w.LastLogin, w.PasscodeStatus}))
			}
			Expect(out).To(ContainSubstring("\"Doe, Jane \"\"JD\"\" of Sales\",Admin,"))

			By("-o csv is the default")
			Expect(run("users", "export", "-n", ns, "-o", "csv").succeed().Out).To(Equal(out))
		})

		It("takes kubectl's output formats besides csv: -o json is the DashboardUsers in a List", func() {
			want := aProject()
			out := run("users", "export", "-n", ns, "-o", "json").succeed().Out
			var list accessv1alpha1.DashboardUserList
			Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
			Expect(list.Kind).To(Equal("List"))
			Expect(list.Items).To(HaveLen(len(want)))
			for i, w := range want {
				Expect(list.Items[i].Spec.Email).To(Equal(w.Email))
			}
			Expect(run("users", "export", "-n", ns, "-o", "yaml").succeed().Out).To(HavePrefix("apiVersion: v1\nitems:\n"))
			Expect(run("users", "export", "-n", ns, "-o", "name").succeed().Out).To(HavePrefix("dashboarduser/abe\n"))
			Expect(run("users", "export", "-n", ns, "--template", "{{range .items}}{{.spec.email}} {{end}}").succeed().Out).
				To(Equal("abe@example.com jane@example.com omar@example.com "), "--template without -o replaces csv, as kubectl get --template")
		})

		It("adds Project with -A, sorted by project then email", func() {
			want := aProject()
			other := newNamespace()
			createUser(other, "zoe", "zoe@example.com", accessv1alpha1.RoleCreator, "Zoe")
			createUser(other, "amy", "amy@example.com", accessv1alpha1.RoleMember, "")
			want = append(want,
				exported{other, "", "Member", "amy@example.com", "Pending", "", "None"},
				exported{other, "Zoe", "Creator", "zoe@example.com", "Pending", "", "None"})
			sort.SliceStable(want, func(i, j int) bool { return want[i].Project < want[j].Project }) // then by email, as listed

			records, err := csv.NewReader(strings.NewReader(run("users", "export", "-A").succeed().Out)).ReadAll()
			Expect(err).NotTo(HaveOccurred())
			Expect(records[0]).To(Equal([]string{"Project", "Name", "Role", "Email", "User Status", "Last Login", "Passcode-Status"}))
			var mine [][]string // other tests' projects share the API server
			for _, r := range records[1:] {
				if r[0] == ns || r[0] == other {
					mine = append(mine, r)
				}
			}
			Expect(mine).To(HaveLen(len(want)))
			for i, w := range want {
				Expect(mine[i]).To(Equal([]string{w.Project, w.Name, w.Role, w.Email, w.UserStatus, w.LastLogin, w.PasscodeStatus}))
			}

			By("-l selects the users of the CSV too")
			zoe := getUser(other, "zoe")
			zoe.Labels = map[string]string{"test": other}
			Expect(k8sClient.Update(ctx, zoe)).To(Succeed())
			records, err = csv.NewReader(strings.NewReader(run("users", "export", "-A", "-l", "test="+other).succeed().Out)).ReadAll()
			Expect(err).NotTo(HaveOccurred())
			Expect(records).To(Equal([][]string{
				{"Project", "Name", "Role", "Email", "User Status", "Last Login", "Passcode-Status"},
				{other, "Zoe", "Creator", "zoe@example.com", "Pending", "", "None"},
			}))
		})

		It("refuses an unknown format, listing the allowed ones, csv among them", func() {
			run("users", "export", "-n", ns, "-o", "toml").fail(plugin.ExitUsage, `invalid --output "toml": allowed formats are csv, custom-columns`)
		})
	})

	Describe("edits", func() {
		var before *accessv1alpha1.DashboardUser
		BeforeEach(func() {
			createUser(ns, "jane", "jane@example.com", accessv1alpha1.RoleMember, "Jane")
			u := getUser(ns, "jane")
			u.Labels = map[string]string{"team": "sales"}
			u.Annotations = map[string]string{"owner": "gitops"}
			Expect(k8sClient.Update(ctx, u)).To(Succeed())
			before = getUser(ns, "jane")
		})

		// expectOnly asserts that jane differs from before only as change says.
		expectOnly := func(change func(*accessv1alpha1.DashboardUser)) *accessv1alpha1.DashboardUser {
			GinkgoHelper()
			after := getUser(ns, "jane")
			want := before.DeepCopy()
			change(want)
			Expect(after.Spec).To(Equal(want.Spec))
			Expect(after.Labels).To(Equal(want.Labels))
			Expect(after.Annotations).To(Equal(want.Annotations))
			return after
		}

		It("set-role changes the role only, by name or by email", func() {
			r := run("users", "set-role", "jane", "Admin", "-n", ns).succeed()
			Expect(r.Out).To(Equal("dashboarduser/jane role changed from Member to Admin\n"))
			after := expectOnly(func(u *accessv1alpha1.DashboardUser) { u.Spec.Role = accessv1alpha1.RoleAdmin })
			Expect(pluginFields(after)).To(MatchJSON(`{"f:spec":{"f:role":{}}}`), "a merge patch of the role, not an update of the whole object")

			r = run("users", "set-role", "jane@example.com", "Approver", "-n", ns).succeed()
			Expect(r.Out).To(Equal("dashboarduser/jane role changed from Admin to Approver\n"))

			By("a no-op says so and writes nothing")
			rv := getUser(ns, "jane").ResourceVersion
			Expect(run("users", "set-role", "jane", "Approver", "-n", ns).succeed().Out).To(ContainSubstring("role is already Approver (no change)"))
			Expect(getUser(ns, "jane").ResourceVersion).To(Equal(rv))

			run("users", "set-role", "jane", "admin", "-n", ns).fail(plugin.ExitUsage, "did you mean Admin?")
			run("users", "set-role", "jane", "-n", ns).fail(plugin.ExitUsage, "expects USER and ROLE")
		})

		It("set-role with --dry-run changes nothing", func() {
			Expect(run("users", "set-role", "jane", "Admin", "-n", ns, "--dry-run=client").succeed().Out).
				To(Equal("dashboarduser/jane role changed from Member to Admin (dry run)\n"))
			Expect(run("users", "set-role", "jane", "Admin", "-n", ns, "--dry-run=server").succeed().Out).
				To(Equal("dashboarduser/jane role changed from Member to Admin (server dry run)\n"))
			expectOnly(func(*accessv1alpha1.DashboardUser) {})
			Expect(getUser(ns, "jane").ResourceVersion).To(Equal(before.ResourceVersion))
		})

		It("revoke and grant change spec.access only", func() {
			r := run("users", "revoke", "jane@example.com", "-n", ns).succeed()
			Expect(r.Out).To(HavePrefix("dashboarduser/jane access revoked (was Granted)\n"))
			after := expectOnly(func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked })
			Expect(pluginFields(after)).To(MatchJSON(`{"f:spec":{"f:access":{}}}`))
			Expect(run("users", "revoke", "jane", "-n", ns).succeed().Out).To(ContainSubstring("access is already Revoked (no change)"))

			r = run("users", "grant", "jane", "-n", ns).succeed()
			Expect(r.Out).To(HavePrefix("dashboarduser/jane access granted (was Revoked)\n"))
			Expect(r.Out).To(ContainSubstring("stay revoked"))
			expectOnly(func(*accessv1alpha1.DashboardUser) {})
			Expect(run("users", "grant", "jane", "-n", ns).succeed().Out).To(ContainSubstring("access is already Granted (no change)"))
		})

		It("resend-invite sets the annotation to now, RFC 3339, and nothing else", func() {
			start := time.Now().Add(-time.Second)
			r := run("users", "resend-invite", "jane", "-n", ns).succeed()
			after := getUser(ns, "jane")
			v := after.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation]
			t, err := time.Parse(time.RFC3339, v)
			Expect(err).NotTo(HaveOccurred())
			Expect(t).To(BeTemporally(">", start))
			Expect(t).To(BeTemporally("<", time.Now().Add(time.Second)))
			Expect(r.Out).To(Equal("dashboarduser/jane invite resend requested at " + v + "\n"))
			after = expectOnly(func(u *accessv1alpha1.DashboardUser) {
				u.Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation] = v
			})
			Expect(pluginFields(after)).To(MatchJSON(`{"f:metadata":{"f:annotations":{"f:access.dashboardops.io/resend-invite-requested-at":{}}}}`))

			By("a second request carries another value")
			run("users", "resend-invite", "jane@example.com", "-n", ns).succeed()
			Expect(getUser(ns, "jane").Annotations[accessv1alpha1.ResendInviteRequestedAtAnnotation]).NotTo(Equal(v))
		})

		It("completes USER with the project's users, then ROLE", func() {
			createUser(ns, "omar", "omar@example.com", accessv1alpha1.RoleMember, "")
			complete := func(args ...string) []string {
				GinkgoHelper()
				// __complete is what the shell scripts of `kubectl dashboard completion` call; the word
				// being completed comes last.
				var out bytes.Buffer
				cmd := plugin.NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: GinkgoWriter})
				cmd.SetArgs(append([]string{"__complete", "--kubeconfig", kubeconfig, "-n", ns}, args...))
				Expect(cmd.Execute()).To(Succeed())
				return strings.Split(strings.TrimSpace(out.String()), "\n")
			}
			Expect(complete("users", "revoke", "")).To(Equal([]string{"jane", "omar", ":4"}))
			Expect(complete("users", "set-role", "jane", "")).To(Equal([]string{"Admin", "Creator", "Member", "Approver", ":4"}))
			Expect(complete("invite", "--role", "")).To(Equal([]string{"Admin", "Creator", "Member", "Approver", ":4"}))
		})

		It("fails with exit code 1 and a clear message for a user that does not exist", func() {
			for _, cmd := range [][]string{
				{"users", "set-role", "nobody", "Admin"}, {"users", "revoke", "nobody"}, {"users", "grant", "nobody"}, {"users", "resend-invite", "nobody"},
			} {
				run(append(cmd, "-n", ns)...).fail(plugin.ExitAPIError, `dashboarduser "nobody" not found in project (namespace) "`+ns+`"`)
			}
			run("users", "revoke", "nobody@example.com", "-n", ns).fail(plugin.ExitAPIError, `no dashboarduser with email "nobody@example.com"`)
			expectOnly(func(*accessv1alpha1.DashboardUser) {})
		})
	})
})
