package controllers_test

import (
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/consumers"
	"github.com/dashboardops/access-operator/internal/passcode"
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

// The suite's kube-controller-manager runs the deployment controller: a restart is real when it
// makes a new ReplicaSet.
var _ = Describe("Rollout restart targets (deployment controller)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	replicaSets := func(g Gomega, deployment string) int {
		list := &appsv1.ReplicaSetList{}
		g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		n := 0
		for _, rs := range list.Items {
			if owner := metav1.GetControllerOf(&rs); owner != nil && owner.Kind == "Deployment" && owner.Name == deployment {
				n++
			}
		}
		return n
	}
	restartedAt := func(g Gomega, name string) string {
		d := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d)).To(Succeed())
		return d.Spec.Template.Annotations[accessv1alpha1.RestartedAtAnnotation]
	}
	settled := func(deployment string, want int) {
		Eventually(func(g Gomega) int { return replicaSets(g, deployment) }).WithTimeout(30 * time.Second).Should(Equal(want))
		Consistently(func(g Gomega) int { return replicaSets(g, deployment) }).WithTimeout(2 * time.Second).Should(Equal(want))
	}

	It("restarts each target once per new revision, after the Secret holds it, and names a missing one", func() {
		createUser(ns, "jane")
		labels := map[string]string{"app": "api"}
		Expect(k8sClient.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/api:1"}}}}},
		})).To(Succeed())
		createPasscode(ns, "api-key", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.RolloutRestartTargets = []accessv1alpha1.RolloutRestartTarget{{Kind: "Deployment", Name: "api"}, {Kind: "StatefulSet", Name: "gone"}}
		})
		pc := waitForPasscode(ns, "api-key", inPhase(accessv1alpha1.PasscodeActive, 1))
		Expect(pc.Status.RolloutRestart).To(BeNil(), "the first passcode restarts nothing: its consumers start with it")
		settled("api", 1)
		Expect(restartedAt(Default, "api")).To(BeEmpty())

		for revision := int64(2); revision <= 3; revision++ {
			By("a reset writes a new revision: one new ReplicaSet")
			requestReset(pc, fakeClock.Now().Add(time.Duration(revision)*time.Second).UTC().Format(time.RFC3339))
			pc = waitForPasscode(ns, "api-key", func(g Gomega, pc *accessv1alpha1.Passcode) {
				inPhase(accessv1alpha1.PasscodeActive, revision)(g, pc)
				g.Expect(pc.Status.RolloutRestart).NotTo(BeNil())
				g.Expect(pc.Status.RolloutRestart.RestartedAt).NotTo(BeNil())
			})
			Expect(pc.Status.RolloutRestart.Revision).To(Equal(revision))
			Expect(pc.Status.RolloutRestart.Missing).To(Equal([]string{"StatefulSet/gone"}))
			Expect(restartedAt(Default, "api")).To(Equal(consumers.Value(pc.Status.IssuedAt.Time, revision)))
			Expect(time.Parse(time.RFC3339, restartedAt(Default, "api"))).To(BeTemporally("~", pc.Status.IssuedAt.Time, time.Second))
			settled("api", int(revision))
			// Recorded by the restarts' own reconciler; Ready (the Passcode reconciler's) follows.
			waitForPasscode(ns, "api-key", func(g Gomega, pc *accessv1alpha1.Passcode) {
				g.Expect(apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady).Message).
					To(HaveSuffix("; restart targets not found: StatefulSet/gone"))
			})
		}
		Eventually(func(g Gomega) []string { return eventReasons(g, ns, "api-key") }).Should(ContainElements(
			accessv1alpha1.ReasonRolloutRestarted, accessv1alpha1.ReasonRestartTargetNotFound))
		restarts, ok := series(Default, "access_operator_rollout_restarts_total", map[string]string{"namespace": ns})
		Expect(ok).To(BeTrue())
		Expect(restarts).To(Equal(2.0), "one per revision after the first, the missing target not counted")

		By("re-reconciles restart nothing")
		poke(pc)
		poke(pc)
		settled("api", 3)

		By("a manager that died before recording the restart restarts nothing more")
		patch := []byte(`{"status":{"rolloutRestart":{"restartedAt":null}}}`)
		Expect(k8sClient.Status().Patch(ctx, pc, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		poke(pc)
		waitForPasscode(ns, "api-key", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(pc.Status.RolloutRestart.RestartedAt).NotTo(BeNil())
		})
		settled("api", 3)
	})
})

var _ = Describe("Importing an existing passcode", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	legacy := func(name, value string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"passcode": []byte(value)}}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		return s
	}
	stalledOn := func(name string) string {
		var msg string
		waitForPasscode(ns, name, func(g Gomega, pc *accessv1alpha1.Passcode) {
			c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionStalled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(accessv1alpha1.ReasonImportFailed))
			msg = c.Message
		})
		return msg
	}

	It("adopts the value as revision 1, leaves the source alone, and generates from the next revision on", func() {
		const value = "Legacy_key-0123456789abcdefXYZ"
		src := legacy("dashboard-key", value)
		createUser(ns, "jane")
		createPasscode(ns, "jane-api", "jane", "1h", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Import = &accessv1alpha1.PasscodeImport{SecretRef: accessv1alpha1.LocalSecretReference{Name: "dashboard-key"}}
		})
		pc := waitForPasscode(ns, "jane-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		Expect(readyReason(pc)).To(Equal("True/Imported"))
		Expect(string(secretOf(Default, ns, "jane-api").Data[passcodesecret.KeyPasscode])).To(Equal(value))
		// The access server answers from its own cache of the status just seen: it may be a moment behind.
		Eventually(func() int { return verifyStatus(ns, value) }).WithTimeout(5*time.Second).
			Should(Equal(http.StatusOK), "the access server accepts an imported passcode")
		after := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(src.ResourceVersion), "the source Secret is only read")

		requestReset(pc, "2026-01-02T00:00:00Z")
		waitForPasscode(ns, "jane-api", inPhase(accessv1alpha1.PasscodeActive, 2))
		next := string(secretOf(Default, ns, "jane-api").Data[passcodesecret.KeyPasscode])
		Expect(passcode.WellFormed(next)).To(BeTrue(), "the next revision is generated")
		Eventually(func() int { return verifyStatus(ns, value) }).WithTimeout(5 * time.Second).Should(Equal(http.StatusUnauthorized))
		Eventually(func() int { return verifyStatus(ns, next) }).WithTimeout(5 * time.Second).Should(Equal(http.StatusOK))
	})

	It("stalls with one message whatever the cause (an outsider learns nothing of the Secret), until the source is fixed", func() {
		// The same words for a missing Secret, a missing key, a value of the wrong length and another
		// Passcode's value: none tells whether the Secret exists, how long its value is, or whose it is.
		refusal := func(secret string) string {
			return `spec.import.secretRef: Secret "` + secret + `" cannot be imported: it must exist in namespace ` + ns +
				`, hold in key "passcode" a passcode of 22 to 256 characters of A-Z, a-z, 0-9, '-' and '_' that no other Passcode of ` +
				`the namespace has, and not be this Passcode's own Secret`
		}
		importing := func(name, secret string) {
			createUser(ns, name)
			createPasscode(ns, name+"-api", name, "1h", func(pc *accessv1alpha1.Passcode) {
				pc.Spec.Import = &accessv1alpha1.PasscodeImport{SecretRef: accessv1alpha1.LocalSecretReference{Name: secret}}
			})
			Expect(stalledOn(name+"-api")).To(Equal(refusal(secret)), secret)
		}
		importing("kim", "kim-key") // no such Secret
		nokey := legacy("nokey", "x")
		nokey.Data = map[string][]byte{"other": []byte("x")}
		Expect(k8sClient.Update(ctx, nokey)).To(Succeed())
		importing("ned", "nokey")
		legacy("short", "tooShort123")
		importing("sam", "short")
		createUser(ns, "lee")
		other := createPasscode(ns, "lee-api", "lee", "1h")
		waitForPasscode(ns, "lee-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		legacy("taken", string(secretOf(Default, ns, other.Name).Data[passcodesecret.KeyPasscode]))
		importing("tia", "taken") // one passcode for two users
		src := legacy("kim-key", "tooShort123")

		By("a good value is adopted")
		const good = "kims-real-dashboard-key-2024"
		src.Data["passcode"] = []byte(good)
		Expect(k8sClient.Update(ctx, src)).To(Succeed())
		poke(getPasscode(Default, ns, "kim-api"))
		waitForPasscode(ns, "kim-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		// The access server answers from its own cache of the status just seen: it may be a moment behind.
		Eventually(func() int { return verifyStatus(ns, good) }).WithTimeout(5 * time.Second).Should(Equal(http.StatusOK))
	})
})
