package plugin_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/plugin"
	usersrules "github.com/dashboardops/access-operator/internal/users"
)

func getPasscode(ns, name string) *accessv1alpha1.Passcode {
	GinkgoHelper()
	pc := &accessv1alpha1.Passcode{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pc)).To(Succeed())
	return pc
}

func passcodes(ns string) []accessv1alpha1.Passcode {
	GinkgoHelper()
	var list accessv1alpha1.PasscodeList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

var _ = Describe("passcode", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		createUser(ns, "jane", "jane@example.com", accessv1alpha1.RoleMember, "Jane")
	})

	Describe("grant", func() {
		It("creates <user>-api for the user named by email, with the flags as its spec", func() {
			r := run("passcode", "grant", "jane@example.com", "-n", ns, "--tenure", "30d", "--rotation", "Automatic", "--renew-before", "10d", "--grace", "1h").succeed()
			Expect(r.Out).To(Equal("passcode/jane-api created for dashboarduser/jane (jane@example.com): tenure 30d, rotation Automatic, secret/jane-api\n"))
			pc := getPasscode(ns, "jane-api")
			Expect(pc.Spec.UserRef.Name).To(Equal("jane"))
			Expect(pc.Spec.Tenure).To(Equal("30d"))
			Expect(pc.Spec.Rotation).To(Equal(&accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, RenewBefore: "10d", GracePeriod: "1h"}))
			Expect(pc.Spec.SecretName).To(BeEmpty())
			Expect(pc.Spec.Revoked).To(BeFalse())

			By("granting it again points to reset")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "12h").
				fail(plugin.ExitAPIError, `passcode "jane-api" already exists`, "kubectl dashboard passcode reset jane-api")
			Expect(getPasscode(ns, "jane-api").Spec.Tenure).To(Equal("30d"))
		})

		It("imports: spec.import names --from-secret, which must exist; the value is never read", func() {
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy-key"},
				StringData: map[string]string{"passcode": "legacy-dashboard-passcode-1234"}})).To(Succeed())
			r := run("passcode", "import", "jane", "-n", ns, "--from-secret", "legacy-key", "--tenure", "30d").succeed()
			Expect(r.Out).To(Equal("passcode/jane-api created for dashboarduser/jane (jane@example.com): tenure 30d, rotation Manual, secret/jane-api, " +
				"importing the passcode of secret/legacy-key\n"))
			Expect(r.Out + r.ErrOut).NotTo(ContainSubstring("legacy-dashboard-passcode-1234"))
			Expect(getPasscode(ns, "jane-api").Spec.Import).To(Equal(&accessv1alpha1.PasscodeImport{SecretRef: accessv1alpha1.LocalSecretReference{Name: "legacy-key"}}))

			run("passcode", "import", "jane", "-n", ns, "--name", "jane-2", "--tenure", "30d").fail(plugin.ExitUsage, "--from-secret is required")
			run("passcode", "import", "jane", "-n", ns, "--name", "jane-2", "--tenure", "30d", "--from-secret", "Bad_Name").fail(plugin.ExitUsage, "invalid --from-secret")
			run("passcode", "import", "jane", "-n", ns, "--name", "jane-2", "--tenure", "30d", "--from-secret", "nope").
				fail(plugin.ExitAPIError, `invalid --from-secret: secret "nope" does not exist in project (namespace) "`+ns+`"`)
			Expect(passcodes(ns)).To(HaveLen(1), "a failed import writes nothing")
		})

		It("takes --name and --secret-name, and leaves rotation to the defaults", func() {
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "45m", "--name", "jane-ci", "--secret-name", "ci-passcode").succeed()
			pc := getPasscode(ns, "jane-ci")
			Expect(pc.Spec).To(Equal(accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "45m", SecretName: "ci-passcode"}))
		})

		It("refuses bad flags before writing anything, naming the flag (exit code 2)", func() {
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "400d").fail(plugin.ExitUsage, "invalid --tenure", "at most 365d")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30").fail(plugin.ExitUsage, "invalid --tenure", "whole number followed by d, h or m")
			run("passcode", "grant", "jane", "-n", ns).fail(plugin.ExitUsage, "--tenure is required")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--renew-before", "30d").fail(plugin.ExitUsage, "invalid --renew-before", "shorter than the tenure")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--grace", "25h").fail(plugin.ExitUsage, "invalid --grace", "at most 24h")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--rotation", "Sometimes").fail(plugin.ExitUsage, "invalid --rotation")
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--name", "Bad_Name").fail(plugin.ExitUsage, "invalid --name")
			run("passcode", "grant", "-n", ns, "--tenure", "30d").fail(plugin.ExitUsage, "expects USER")
			Expect(passcodes(ns)).To(BeEmpty())
		})

		It("fails with exit code 1 for a user that does not exist", func() {
			run("passcode", "grant", "nobody", "-n", ns, "--tenure", "30d").fail(plugin.ExitAPIError, `dashboarduser "nobody" not found`)
			run("passcode", "grant", "nobody@example.com", "-n", ns, "--tenure", "30d").fail(plugin.ExitAPIError, `no dashboarduser with email "nobody@example.com"`)
			Expect(passcodes(ns)).To(BeEmpty())
		})

		It("creates nothing with --dry-run", func() {
			Expect(run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--dry-run=client").succeed().Out).To(HaveSuffix("(dry run)\n"))
			Expect(run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d", "--dry-run=server").succeed().Out).To(HaveSuffix("(server dry run)\n"))
			Expect(passcodes(ns)).To(BeEmpty())
		})
	})

	Describe("on an existing passcode", func() {
		BeforeEach(func() {
			run("passcode", "grant", "jane", "-n", ns, "--tenure", "30d").succeed()
		})

		It("reset sets the reset annotation to now (RFC 3339), and nothing else", func() {
			before := getPasscode(ns, "jane-api")
			start := time.Now().Add(-time.Second)
			r := run("passcode", "reset", "jane-api", "-n", ns).succeed()
			after := getPasscode(ns, "jane-api")
			v := after.Annotations[accessv1alpha1.ResetRequestedAtAnnotation]
			t, err := time.Parse(time.RFC3339, v)
			Expect(err).NotTo(HaveOccurred())
			Expect(t).To(BeTemporally(">", start))
			Expect(r.Out).To(HavePrefix("passcode/jane-api reset requested at " + v))
			Expect(after.Spec).To(Equal(before.Spec))
			Expect(after.Annotations).To(HaveLen(1))
			// grant created it (the plugin owns its spec and the owner reference to the user, which
			// saves the operator that write); reset added only the annotation.
			Expect(after.OwnerReferences).To(ConsistOf(HaveField("Kind", "DashboardUser")))
			Expect(pluginFields(after)).To(MatchJSON(`{"f:metadata":{"f:annotations":{".":{},"f:access.dashboardops.io/reset-requested-at":{}},` +
				`"f:ownerReferences":{".":{},"k:{\"uid\":\"` + string(after.OwnerReferences[0].UID) + `\"}":{}}},` +
				`"f:spec":{".":{},"f:tenure":{},"f:userRef":{".":{},"f:name":{}}}}`))

			By("--dry-run=client sends nothing")
			run("passcode", "reset", "jane-api", "-n", ns, "--dry-run=client").succeed()
			Expect(getPasscode(ns, "jane-api").Annotations[accessv1alpha1.ResetRequestedAtAnnotation]).To(Equal(v))
		})

		It("reset --immediate ends the old passcode at once; a later plain reset does not inherit it", func() {
			r := run("passcode", "reset", "jane-api", "-n", ns, "--immediate").succeed()
			Expect(r.Out).To(ContainSubstring("stops working at once"))
			after := getPasscode(ns, "jane-api")
			Expect(after.Annotations).To(HaveKeyWithValue(accessv1alpha1.ResetImmediateAnnotation, "true"))
			Expect(after.Annotations).To(HaveKey(accessv1alpha1.ResetRequestedAtAnnotation))

			time.Sleep(time.Second) // a new RFC 3339 second, so the second reset is a new request
			run("passcode", "reset", "jane-api", "-n", ns).succeed()
			Expect(getPasscode(ns, "jane-api").Annotations).NotTo(HaveKey(accessv1alpha1.ResetImmediateAnnotation))
		})

		It("revoke sets spec.revoked, says it is final, and a second revoke is a no-op", func() {
			r := run("passcode", "revoke", "jane-api", "-n", ns).succeed()
			Expect(r.Out).To(HavePrefix("passcode/jane-api revoked\n"))
			Expect(r.Out).To(ContainSubstring("This is final"))
			pc := getPasscode(ns, "jane-api")
			Expect(pc.Spec.Revoked).To(BeTrue())
			Expect(pc.Spec.Tenure).To(Equal("30d"))
			Expect(pluginFields(pc)).To(ContainSubstring(`"f:revoked":{}`))
			Expect(run("passcode", "revoke", "jane-api", "-n", ns).succeed().Out).To(ContainSubstring("already revoked (no change)"))
		})

		It("status prints the passcode's state, and never the passcode", func() {
			issued := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			expires := metav1.NewTime(issued.Add(30 * 24 * time.Hour))
			renews := metav1.NewTime(issued.Add(20 * 24 * time.Hour))
			used := metav1.NewTime(issued.Add(time.Hour))
			pc := getPasscode(ns, "jane-api")
			pc.Status = accessv1alpha1.PasscodeStatus{
				Phase: accessv1alpha1.PasscodeActive, IssuedAt: &issued, ExpiresAt: &expires, RenewalTime: &renews, LastUsedAt: &used,
				Revision: 3, SecretName: "jane-api", Hash: "sha256:0123456789abcdef",
				Conditions: []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonIssued,
					Message: "Passcode issued; it expires at 2026-02-01T03:04:05Z", LastTransitionTime: issued}},
			}
			Expect(k8sClient.Status().Update(ctx, pc)).To(Succeed())
			const secretValue = "s3cr3t-passcode-value-never-shown"
			Expect(k8sClient.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane-api"},
				StringData: map[string]string{"passcode": secretValue, "email": "jane@example.com"},
			})).To(Succeed())

			r := run("passcode", "status", "jane-api", "-n", ns).succeed()
			for _, line := range []string{
				`(?m)^Passcode:\s+jane-api$`,
				`(?m)^User:\s+jane$`,
				`(?m)^Phase:\s+Active$`,
				`(?m)^Issued At:\s+2026-01-02T03:04:05Z$`,
				`(?m)^Expires At:\s+2026-02-01T03:04:05Z$`,
				`(?m)^Renewal Time:\s+2026-01-22T03:04:05Z$`,
				`(?m)^Revision:\s+3$`,
				`(?m)^Last Used At:\s+2026-01-02T04:04:05Z$`,
				`(?m)^Secret:\s+jane-api$`,
				`(?m)^Ready:\s+True, reason Issued: Passcode issued; it expires at 2026-02-01T03:04:05Z$`,
			} {
				Expect(r.Out).To(MatchRegexp(line))
			}
			Expect(r.Out + r.ErrOut).NotTo(ContainSubstring(secretValue))
			Expect(r.Out + r.ErrOut).NotTo(ContainSubstring("sha256:"))

			By("-o json and yaml: the Passcode as it is (status.hash as kubectl get shows it), never the Secret's value")
			for _, format := range []string{"json", "yaml"} {
				out := run("passcode", "status", "jane-api", "-n", ns, "-o", format).succeed().Out
				Expect(out).NotTo(ContainSubstring(secretValue))
				var got accessv1alpha1.Passcode
				Expect(yaml.UnmarshalStrict([]byte(out), &got)).To(Succeed(), "one Passcode, not a List")
				Expect(got.Kind).To(Equal("Passcode"))
				Expect(got.Status).To(Equal(getPasscode(ns, "jane-api").Status))
				Expect(got.Spec).To(Equal(pc.Spec))
			}
			Expect(run("passcode", "status", "jane-api", "-n", ns, "-o", "name").succeed().Out).To(Equal("passcode/jane-api\n"))
			Expect(run("passcode", "status", "jane-api", "-n", ns, "-o", "jsonpath={.status.revision}").succeed().Out).To(Equal("3"))
			wide := run("passcode", "status", "jane-api", "-n", ns, "-o", "wide").succeed().Out
			Expect(strings.Fields(strings.SplitN(wide, "\n", 2)[0])).To(Equal([]string{"PASSCODE", "USER", "STATUS", "EXPIRES", "RENEWS", "REVISION",
				"LAST", "USED", "ROTATION", "TENURE", "SECRET", "REVOKED", "READY", "AGE"}))
			Expect(wide).To(MatchRegexp(`(?m)^jane-api\s+jane\s+Active\s+2026-02-01T03:04:05Z\s+2026-01-22T03:04:05Z\s+3\s+2026-01-02T04:04:05Z\s+` +
				`Manual\s+30d\s+jane-api\s+false\s+True \(Issued\)\s+\d+s$`))
			Expect(wide).NotTo(ContainSubstring("sha256:"))
			run("passcode", "status", "jane-api", "-n", ns, "-o", "toml").fail(plugin.ExitUsage, `invalid --output "toml": allowed formats are`)
		})

		It("list shows the project's passcodes, and takes kubectl's output flags, -l and -A", func() {
			createUser(ns, "omar", "omar@example.com", accessv1alpha1.RoleMember, "")
			run("passcode", "grant", "omar", "-n", ns, "--tenure", "1d", "--name", "omar-ci").succeed()
			ci := getPasscode(ns, "omar-ci")
			ci.Labels = map[string]string{"purpose": "ci", "test": ns}
			Expect(k8sClient.Update(ctx, ci)).To(Succeed())

			out := run("passcode", "list", "-n", ns).succeed().Out
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			Expect(lines).To(HaveLen(3))
			Expect(strings.Fields(lines[0])).To(Equal([]string{"PASSCODE", "USER", "STATUS", "EXPIRES", "RENEWS", "REVISION", "LAST", "USED"}))
			Expect(strings.Fields(lines[1])).To(Equal([]string{"jane-api", "jane", "Pending", "<none>", "<none>", "0", "<never>"}))
			Expect(strings.Fields(lines[2])[0]).To(Equal("omar-ci"))

			Expect(run("passcode", "list", "-n", ns, "-o", "name").succeed().Out).To(Equal("passcode/jane-api\npasscode/omar-ci\n"))
			Expect(run("passcode", "list", "-A", "-l", "purpose=ci,test="+ns).succeed().Out).To(MatchRegexp(`^NAMESPACE\s+PASSCODE\s.*\n%s\s+omar-ci\s+omar\s`, ns))
			var list metav1.List
			Expect(yaml.Unmarshal([]byte(run("passcode", "list", "-n", ns, "-o", "yaml", "-l", "purpose!=ci").succeed().Out), &list)).To(Succeed())
			Expect(list.Items).To(HaveLen(1))
			r := run("passcode", "list", "-n", newNamespace())
			Expect(r.succeed().Out).To(BeEmpty())
			Expect(r.ErrOut).To(ContainSubstring("No passcodes found in project (namespace)"))
		})

		It("status of a passcode the operator has not handled yet says Pending", func() {
			r := run("passcode", "status", "jane-api", "-n", ns).succeed()
			Expect(r.Out).To(MatchRegexp(`(?m)^Phase:\s+Pending$`))
			Expect(r.Out).To(MatchRegexp(`(?m)^Last Used At:\s+<never>$`))
			Expect(r.Out).To(MatchRegexp(`(?m)^Ready:\s+Unknown`))
		})

		It("fails with exit code 1 for a passcode that does not exist", func() {
			for _, cmd := range []string{"reset", "revoke", "status"} {
				run("passcode", cmd, "nope", "-n", ns).fail(plugin.ExitAPIError, `passcode "nope" not found in project (namespace) "`+ns+`"`)
			}
		})
	})

	It("works for a user who may not read Secrets, and reports what RBAC forbids with exit code 1", func() {
		// The role a project admin gets for the plugin: DashboardUsers and Passcodes only.
		Expect(k8sClient.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dashboard-admin"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"dashboardusers", "passcodes"},
				Verbs: []string{"get", "list", "create", "patch"}}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dashboard-admin"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "dashboard-admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "project-admin-" + ns}},
		})).To(Succeed())
		limited := writeKubeconfig(envtest.User{Name: "project-admin-" + ns}, "limited")

		// RBAC is enforced: this user cannot read Secrets.
		var secrets corev1.SecretList
		limitedClient := newClientFor(limited)
		Expect(apierrors.IsForbidden(limitedClient.List(ctx, &secrets, client.InNamespace(ns)))).To(BeTrue())

		Eventually(func() int { // RBAC caches take a moment
			return runAs(limited, "users", "list", "-n", ns).Code
		}).Should(Equal(plugin.ExitOK))
		runAs(limited, "invite", "-n", ns, "--role", "Member", "omar@example.com").succeed()
		runAs(limited, "users", "set-role", "omar@example.com", "Admin", "-n", ns).succeed()
		runAs(limited, "passcode", "grant", "omar@example.com", "-n", ns, "--tenure", "1d").succeed()
		runAs(limited, "passcode", "reset", usersrules.ObjectNameForEmail("omar@example.com")+"-api", "-n", ns).succeed()
		runAs(limited, "passcode", "status", usersrules.ObjectNameForEmail("omar@example.com")+"-api", "-n", ns).succeed()
		runAs(limited, "users", "export", "-n", ns, "-o", "json").succeed()

		r := runAs(limited, "users", "list", "-A").fail(plugin.ExitAPIError, "forbidden")
		Expect(r.Out).To(BeEmpty())
	})

	It("takes the namespace from the kubeconfig context when -n is not given", func() {
		withNs := kubeconfigWithNamespace(ns)
		r := runAs(withNs, "users", "list").succeed()
		Expect(r.Out).To(MatchRegexp(`(?m)^jane\s+Jane\s+Member\s+jane@example.com`))
		runAs(withNs, "passcode", "grant", "jane", "--tenure", "1d").succeed()
		Expect(passcodes(ns)).To(HaveLen(1))
	})
})
