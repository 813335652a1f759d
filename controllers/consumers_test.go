package controllers_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// What consumers of the passcode get beyond the four keys (issue: rotation reaching workloads).
var _ = Describe("Passcode Secret templates", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("writes the Secret type and templated keys, follows template edits without a new passcode, and renders them empty once expired", func() {
		createUser(ns, "jane")
		createPasscode(ns, "tmpl", "jane", "2h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Type: string(corev1.SecretTypeBasicAuth), Data: map[string]accessv1alpha1.DataTemplate{
				"username": "{{ .Email }}",
				"password": "{{ .Passcode }}",
				"API_KEY":  "Bearer {{ .Passcode }}",
			}}
		})
		pc := waitForPasscode(ns, "tmpl", inPhase(accessv1alpha1.PasscodeActive, 1))
		s := secretOf(Default, ns, "tmpl")
		value := string(s.Data[passcodesecret.KeyPasscode])
		Expect(s.Type).To(Equal(corev1.SecretTypeBasicAuth))
		Expect(string(s.Data["username"])).To(Equal("jane@example.com"))
		Expect(string(s.Data["password"])).To(Equal(value))
		Expect(string(s.Data["API_KEY"])).To(Equal("Bearer " + value))
		Expect(s.Data).To(HaveKey(passcodesecret.KeyAccount), "the default keys stay")

		By("a template edit reaches the Secret with the same passcode")
		update(pc, func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretTemplate.Data["API_KEY"] = "Token {{ .Passcode }}" })
		Eventually(func(g Gomega) string { return string(secretOf(g, ns, "tmpl").Data["API_KEY"]) }).Should(Equal("Token " + value))
		Expect(getPasscode(Default, ns, "tmpl").Status.Revision).To(Equal(int64(1)))

		By("an edited templated key is restored, not rotated")
		s = secretOf(Default, ns, "tmpl")
		s.Data["API_KEY"] = []byte("Token mine")
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		Eventually(func(g Gomega) string { return string(secretOf(g, ns, "tmpl").Data["API_KEY"]) }).Should(Equal("Token " + value))
		Expect(getPasscode(Default, ns, "tmpl").Status.Revision).To(Equal(int64(1)))

		By("at expiry no key carries the passcode any more")
		pc = getPasscode(Default, ns, "tmpl")
		fakeClock.SetTime(pc.Status.ExpiresAt.Time)
		poke(pc)
		waitForPasscode(ns, "tmpl", inPhase(accessv1alpha1.PasscodeExpired, 1))
		s = secretOf(Default, ns, "tmpl")
		for k, v := range s.Data {
			Expect(string(v)).NotTo(ContainSubstring(value), "key %s after expiry", k)
		}
		Expect(string(s.Data["API_KEY"])).To(Equal("Token "))
		Expect(s.Data).To(HaveKey("password"), "a basic-auth Secret keeps its keys, empty")
	})

	It("stalls on a template the CRD could not refuse, naming the key, and issues once it is fixed", func() {
		createUser(ns, "jane")
		createPasscode(ns, "badtmpl", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"API_KEY": "{{ sha256 .Passcode }}"}}
		})
		pc := waitForPasscode(ns, "badtmpl", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(readyReason(pc)).To(Equal("False/InvalidSpec"))
		})
		stalled := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled)
		Expect(stalled).NotTo(BeNil())
		Expect(stalled.Message).To(ContainSubstring(`spec.secretTemplate.data[API_KEY]: template: API_KEY:1: function "sha256" not defined`))
		Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodePending), "no passcode went through a broken template")

		update(pc, func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretTemplate.Data["API_KEY"] = "{{ .Passcode | b64enc }}" })
		waitForPasscode(ns, "badtmpl", inPhase(accessv1alpha1.PasscodeActive, 1))
		s := secretOf(Default, ns, "badtmpl")
		Expect(strings.TrimSpace(string(s.Data["API_KEY"]))).NotTo(BeEmpty())
		Consistently(func(g Gomega) *accessv1alpha1.Passcode { return getPasscode(g, ns, "badtmpl") }).WithTimeout(time.Second).
			Should(WithTransform(func(pc *accessv1alpha1.Passcode) bool {
				return apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled) == nil
			}, BeTrue()))
	})
})
