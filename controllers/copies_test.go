package controllers_test

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// consent sets (or, with value "", removes) a namespace's accept-passcodes-from annotation.
func consent(ns, value string) {
	update(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(o *corev1.Namespace) {
		if value == "" {
			delete(o.Annotations, accessv1alpha1.AcceptPasscodesFromAnnotation)
			return
		}
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[accessv1alpha1.AcceptPasscodesFromAnnotation] = value
	})
}

func copiesCondition(pc *accessv1alpha1.Passcode) *metav1.Condition {
	return apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionSecretCopies)
}

// copyGone waits until the Secret ns/name does not exist.
func copyGone(ns, name string) {
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.Secret{}))
	}).WithTimeout(15*time.Second).Should(BeTrue(), "Secret %s/%s still exists", ns, name)
}

// sameContent: the copy holds exactly the primary's data and type.
func sameContent(g Gomega, primary, cp *corev1.Secret) {
	g.Expect(cp.Type).To(Equal(primary.Type))
	g.Expect(cp.Data).To(HaveLen(len(primary.Data)))
	for k, v := range primary.Data {
		g.Expect(string(cp.Data[k])).To(Equal(string(v)), "key %s", k)
	}
}

// Issue 13 part 2: the passcode Secret delivered to consenting namespaces.
var _ = Describe("Passcode Secret copies", func() {
	var ns, b, c string
	BeforeEach(func() { ns, b, c = newNamespace(), newNamespace(), newNamespace() })

	It("copies into consenting namespaces only, says which refused, acts on consent given later and withdrawn", func() {
		consent(b, "other, "+ns)
		createUser(ns, "jane")
		createPasscode(ns, "api", "jane", "2h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Type: string(corev1.SecretTypeBasicAuth), Data: map[string]accessv1alpha1.DataTemplate{
				"username": "{{ .Email }}", "password": "{{ .Passcode }}", "API_KEY": "Bearer {{ .Passcode }}",
			}}
			pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: b}, {Namespace: c, Name: "dash"}}
		})
		pc := waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeActive, 1)(g, pc)
			cond := copiesCondition(pc)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(accessv1alpha1.ReasonCopyRefused))
			g.Expect(cond.Message).To(ContainSubstring(`namespace %q does not accept passcodes from %q`, c, ns))
			g.Expect(cond.Message).NotTo(ContainSubstring(b))
		})
		Expect(readyReason(pc)).To(Equal("True/Issued"), "Ready keeps describing the primary")
		Expect(pc.Finalizers).To(ContainElement(controllers.CopiesFinalizer))
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "api") }).Should(ContainElement(accessv1alpha1.ReasonCopyRefused))

		primary := secretOf(Default, ns, "api")
		// The copies have a reconciler of their own: the condition can say "refused" for c before
		// b's copy is written.
		Eventually(func(g Gomega) { sameContent(g, primary, secretOf(g, b, "api")) }).Should(Succeed())
		cp := secretOf(Default, b, "api")
		Expect(string(cp.Data["API_KEY"])).To(Equal("Bearer " + string(primary.Data[passcodesecret.KeyPasscode])))
		Expect(string(cp.Data[passcodesecret.KeyAccount])).To(Equal(ns), "the account is the Passcode's namespace")
		Expect(cp.Labels).To(HaveKeyWithValue(accessv1alpha1.ManagedByLabel, accessv1alpha1.ManagedByValue))
		Expect(cp.Labels).To(HaveKeyWithValue(accessv1alpha1.PasscodeLabel, "api"))
		Expect(cp.Labels).To(HaveKeyWithValue(passcodesecret.CopyOfNamespaceLabel, ns))
		Expect(cp.Annotations).To(HaveKeyWithValue(passcodesecret.CopyOfAnnotation, ns+"/api"))
		Expect(cp.OwnerReferences).To(BeEmpty())
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: c, Name: "dash"}, &corev1.Secret{})).
			To(WithTransform(apierrors.IsNotFound, BeTrue()), "nothing is written without consent")

		By("consent given later is acted on (the namespace is watched)")
		consent(c, "*")
		Eventually(func(g Gomega) { sameContent(g, primary, secretOf(g, c, "dash")) }).WithTimeout(15 * time.Second).Should(Succeed())
		waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(copiesCondition(pc).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(copiesCondition(pc).Reason).To(Equal(accessv1alpha1.ReasonCopiesSynced))
		})

		By("a copy holds a passcode for its Passcode's account only")
		value := string(primary.Data[passcodesecret.KeyPasscode])
		Expect(verifyStatus(ns, value)).To(Equal(http.StatusOK))
		Expect(verifyStatus(b, value)).To(Equal(http.StatusUnauthorized), "a copy in b does not make the passcode valid for account b")
		Expect(verifyStatus(c, value)).To(Equal(http.StatusUnauthorized))

		By("consent withdrawn: the copy is deleted")
		consent(c, "")
		copyGone(c, "dash")
		waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(copiesCondition(pc).Reason).To(Equal(accessv1alpha1.ReasonCopyRefused))
		})

		By("a copy removed from spec is deleted, and with no copy left the finalizer goes")
		update(getPasscode(Default, ns, "api"), func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretCopies = nil })
		copyGone(b, "api")
		waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Finalizers).NotTo(ContainElement(controllers.CopiesFinalizer))
			g.Expect(copiesCondition(pc)).To(BeNil())
		})
		Expect(getPasscode(Default, ns, "api").Status.Revision).To(Equal(int64(1)), "copies never cost a new passcode")
	})

	It("repairs a tampered or deleted copy, wipes copies at expiry, and deletes them with the Passcode", func() {
		consent(b, ns)
		createUser(ns, "jane")
		createPasscode(ns, "api", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: b}}
		})
		waitForPasscode(ns, "api", inPhase(accessv1alpha1.PasscodeActive, 1))
		primary := secretOf(Default, ns, "api")
		Eventually(func(g Gomega) { sameContent(g, primary, secretOf(g, b, "api")) }).Should(Succeed())

		By("an edited copy is put back, with the same passcode")
		cp := secretOf(Default, b, "api")
		cp.Data[passcodesecret.KeyPasscode] = []byte("dpc_mine")
		Expect(k8sClient.Update(ctx, cp)).To(Succeed())
		Eventually(func(g Gomega) { sameContent(g, primary, secretOf(g, b, "api")) }).Should(Succeed())

		By("a copy that lost its labels (out of the cache) is found and relabelled")
		cp = secretOf(Default, b, "api")
		cp.Labels = nil
		cp.Data[passcodesecret.KeyEmail] = []byte("x@example.com")
		Expect(k8sClient.Update(ctx, cp)).To(Succeed())
		poke(getPasscode(Default, ns, "api"))
		Eventually(func(g Gomega) {
			s := secretOf(g, b, "api")
			g.Expect(s.Labels).To(HaveKeyWithValue(passcodesecret.CopyOfNamespaceLabel, ns))
			sameContent(g, primary, s)
		}).Should(Succeed())

		By("a deleted copy is written again")
		Expect(k8sClient.Delete(ctx, secretOf(Default, b, "api"))).To(Succeed())
		Eventually(func(g Gomega) { sameContent(g, primary, secretOf(g, b, "api")) }).Should(Succeed())
		Expect(getPasscode(Default, ns, "api").Status.Revision).To(Equal(int64(1)))

		By("at expiry the copies are wiped with the primary")
		pc := getPasscode(Default, ns, "api")
		fakeClock.SetTime(pc.Status.ExpiresAt.Time)
		poke(pc)
		waitForPasscode(ns, "api", inPhase(accessv1alpha1.PasscodeExpired, 1))
		Eventually(func(g Gomega) {
			g.Expect(secretOf(g, b, "api").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
			sameContent(g, secretOf(g, ns, "api"), secretOf(g, b, "api"))
		}).WithTimeout(2 * time.Second).Should(Succeed())

		By("deleting the Passcode deletes its copies (finalizer)")
		Expect(k8sClient.Delete(ctx, pc)).To(Succeed())
		copyGone(b, "api")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "api"}, &accessv1alpha1.Passcode{}))
		}).WithTimeout(15 * time.Second).Should(BeTrue())
	})

	It("never overwrites nor deletes a Secret in the target that is not its copy, and refuses its own namespace", func() {
		consent(b, "*")
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: b, Name: "api", Labels: map[string]string{
			accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.PasscodeLabel: "api"}},
			StringData: map[string]string{"theirs": "yes"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: b, Name: "plain"}, StringData: map[string]string{"theirs": "yes"}}
		Expect(k8sClient.Create(ctx, unlabelled)).To(Succeed())
		createUser(ns, "jane")
		createPasscode(ns, "api", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: b}, {Namespace: b, Name: "plain"}, {Namespace: ns, Name: "again"}}
		})
		pc := waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodeActive))
			cond := copiesCondition(pc)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Message).To(ContainSubstring("Secret %s/api exists and is not a copy of this Passcode", b))
			g.Expect(cond.Message).To(ContainSubstring("Secret %s/plain exists and is not a copy of this Passcode", b))
			g.Expect(cond.Message).To(ContainSubstring("namespace %q is the Passcode's own", ns))
		})
		for _, name := range []string{"api", "plain"} {
			s := secretOf(Default, b, name)
			Expect(s.Data).To(Equal(map[string][]byte{"theirs": []byte("yes")}), "Secret %s was written", name)
		}
		Expect(k8sClient.Delete(ctx, pc)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "api"}, &accessv1alpha1.Passcode{}))
		}).WithTimeout(15 * time.Second).Should(BeTrue())
		for _, name := range []string{"api", "plain"} {
			Expect(secretOf(Default, b, name).Data).To(HaveKey("theirs"), "Secret %s was deleted with the Passcode", name)
		}
	})

	It("wipes the primary and every other copy when one copy cannot be written, and wipes that one once it can", func() {
		consent(b, "*")
		consent(c, "*")
		createUser(ns, "jane")
		createPasscode(ns, "api", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretCopies = []accessv1alpha1.SecretCopy{{Namespace: b}, {Namespace: c}}
		})
		waitForPasscode(ns, "api", inPhase(accessv1alpha1.PasscodeActive, 1))
		Eventually(func(g Gomega) {
			g.Expect(secretOf(g, b, "api").Data).To(HaveKey(passcodesecret.KeyPasscode))
			g.Expect(secretOf(g, c, "api").Data).To(HaveKey(passcodesecret.KeyPasscode))
		}).Should(Succeed())

		By("the API server refuses every Secret update in c (an admission policy)")
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "refuse-" + c},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: c}},
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
					}}},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "writes refused by the test"}},
			},
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "refuse-" + c},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
		}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c, Name: "probe"}}
		Expect(k8sClient.Create(ctx, probe)).To(Succeed())
		Eventually(func() error {
			probe.StringData = map[string]string{"k": fmt.Sprint(pokes.Add(1))}
			return k8sClient.Update(ctx, probe)
		}).WithTimeout(15*time.Second).Should(MatchError(ContainSubstring("writes refused by the test")), "the policy is in force")

		By("at expiry the primary and b's copy are wiped; c's copy fails and is reported")
		pc := getPasscode(Default, ns, "api")
		fakeClock.SetTime(pc.Status.ExpiresAt.Time)
		poke(pc)
		pc = waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			inPhase(accessv1alpha1.PasscodeExpired, 1)(g, pc)
			g.Expect(copiesCondition(pc).Reason).To(Equal(accessv1alpha1.ReasonCopyFailed))
			g.Expect(copiesCondition(pc).Message).To(ContainSubstring("writing Secret %s/api failed", c))
		})
		Expect(secretOf(Default, ns, "api").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Expect(secretOf(Default, b, "api").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		Expect(secretOf(Default, c, "api").Data).To(HaveKey(passcodesecret.KeyPasscode), "the policy held")
		Expect(pc.Status.NextRetryAt).To(BeNil(), "a copy's failure never gates the primary's next deadline")
		Eventually(func(g Gomega) float64 {
			v, _ := series(g, "access_operator_reconcile_failures_total", map[string]string{"controller": "passcode-copies"})
			return v
		}).Should(BeNumerically(">=", 1), "the copies' own reconciler counts its failure")

		By("once writes are allowed again, the retry wipes c's copy")
		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Expect(k8sClient.Delete(ctx, policy)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(secretOf(g, c, "api").Data).NotTo(HaveKey(passcodesecret.KeyPasscode))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		waitForPasscode(ns, "api", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(copiesCondition(pc).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(pc.Status.Failures).To(BeZero())
		})
	})
})
