package controllers_test

import (
	"fmt"
	"runtime"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
)

// Issue 22, item 1: a secretTemplate can exhaust the manager. The bombs are sized so that the
// manager as it was renders them to the end (a few seconds and tens of megabytes each, writing
// nothing), so these tests fail on it instead of hanging; the full-size ones (1 GiB, hours) are in
// internal/passcodesecret's TestBombsAreRefusedBeforeTheyRun.

// admittedBomb passes every CEL rule: only the controller's bound refuses them.
func admittedBomb(i int) string {
	if i%2 == 0 { // doubling through with: 44 bytes × 2^20 with the stand-in passcode
		return `{{ with printf "%s%s" .Passcode .Passcode }}` + strings.Repeat(`{{ with printf "%s%s" . . }}`, 19) + strings.Repeat("{{ end }}", 20)
	}
	return "{{ with .Passcode" + strings.Repeat(" | b64enc", 40) + " }}{{ end }}" // ×(4/3)^40
}

// hostileAlloc bounds what the manager may allocate while it refuses 20 bombs and issues one
// passcode. Rendering them as text/template alone did costs gigabytes.
const hostileAlloc = 256 << 20

var _ = Describe("Hostile secretTemplates (issue 22)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("refuses at apply what CEL sees, stalls the rest by key without running them, and still serves a normal Passcode", func() {
		createUser(ns, "jane")
		for name, text := range controllers.CELTemplateBombs {
			err := k8sClient.Create(ctx, &accessv1alpha1.Passcode{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cel-" + name},
				Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "1h",
					SecretTemplate: &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"bomb": accessv1alpha1.DataTemplate(text)}}},
			})
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", name, err)
			Expect(err.Error()).To(ContainSubstring("spec.secretTemplate.data"), name)
			Expect(err.Error()).To(Or(ContainSubstring("templates may not use range"), ContainSubstring("templates may not declare or assign variables")), name)
		}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 20 {
			createPasscode(ns, fmt.Sprintf("hostile-%d", i), "jane", "1h", func(pc *accessv1alpha1.Passcode) {
				pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{
					"ok": "{{ .Passcode }}", "bomb": accessv1alpha1.DataTemplate(admittedBomb(i)),
				}}
			})
		}
		createPasscode(ns, "normal", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Data: map[string]accessv1alpha1.DataTemplate{"API_KEY": "Bearer {{ .Passcode }}"}}
		})
		waitForPasscode(ns, "normal", inPhase(accessv1alpha1.PasscodeActive, 1))
		s := secretOf(Default, ns, "normal")
		Expect(string(s.Data["API_KEY"])).To(HavePrefix("Bearer dpc_"))

		for i := range 20 {
			pc := waitForPasscode(ns, fmt.Sprintf("hostile-%d", i), func(g Gomega, pc *accessv1alpha1.Passcode) {
				g.Expect(readyReason(pc)).To(Equal("False/InvalidSpec"))
			})
			stalled := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled)
			Expect(stalled).NotTo(BeNil())
			Expect(stalled.Message).To(HavePrefix("spec.secretTemplate.data[bomb]: may "), "hostile-%d", i)
			Expect(stalled.Message).To(ContainSubstring("with the longest values the fields can hold"), "hostile-%d", i)
			Expect(pc.Status.Phase).To(Equal(accessv1alpha1.PasscodePending), "no passcode went through it")
			Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: pc.Name}, &corev1.Secret{}))).To(BeTrue())
		}
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		GinkgoWriter.Printf("20 hostile Passcodes and one normal: the process allocated %d MiB\n", allocated>>20)
		Expect(allocated).To(BeNumerically("<", hostileAlloc), "the manager (and the test) allocated %d MiB", allocated>>20)
	})
})
