package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// kstatusOf computes what Flux, kpt and Argo CD's kstatus integration see.
func kstatusOf(g Gomega, obj client.Object, name types.NamespacedName) status.Status {
	g.Expect(k8sClient.Get(ctx, name, obj)).To(Succeed())
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// applyAsGitOps server-side applies a manifest the way Argo CD or Flux does, with their field manager.
func applyAsGitOps(manifest, ns string) {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("argocd-controller"))).To(Succeed())
}

const gitopsUser = `
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: git-user}
spec: {email: git-user@example.com, role: Member, displayName: From Git}
`

const gitopsPasscode = `
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: git-api}
spec:
  userRef: {name: git-user}
  tenure: 30d
  rotation: {policy: Automatic, gracePeriod: 1h}
  secretTemplate: {labels: {team: data}}
`

var _ = Describe("GitOps", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("reports kstatus Current, InProgress and Failed as Flux and Argo CD read them", func() {
		createPasscode(ns, "waiting", "nobody", "1h")
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.Passcode{}, types.NamespacedName{Namespace: ns, Name: "waiting"})
		}).Should(Equal(status.InProgressStatus), "waiting for its user is progress, not failure")

		createUser(ns, "nobody")
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.Passcode{}, types.NamespacedName{Namespace: ns, Name: "waiting"})
		}).Should(Equal(status.CurrentStatus))
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.DashboardUser{}, types.NamespacedName{Namespace: ns, Name: "nobody"})
		}).Should(Equal(status.CurrentStatus))

		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metaName(ns, "not-yours")})).To(Succeed())
		createPasscode(ns, "conflicting", "nobody", "1h", func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = "not-yours" })
		Eventually(func(g Gomega) status.Status {
			return kstatusOf(g, &accessv1alpha1.Passcode{}, types.NamespacedName{Namespace: ns, Name: "conflicting"})
		}).Should(Equal(status.FailedStatus), "a Secret conflict needs a person: Stalled")
	})

	It("never writes spec: a GitOps re-apply after the operator worked has no conflict and no diff", func() {
		applyAsGitOps(gitopsUser, ns)
		applyAsGitOps(gitopsPasscode, ns)
		pc := waitForPasscode(ns, "git-api", inPhase(accessv1alpha1.PasscodeActive, 1))
		waitForUser(ns, "git-user", userPhase(accessv1alpha1.UserInvited))
		Eventually(func(g Gomega) []metav1OwnerRef { return ownerRefs(getPasscode(g, ns, "git-api")) }).ShouldNot(BeEmpty())
		specBefore := pc.Spec.DeepCopy()
		userBefore := getUser(Default, ns, "git-user").Spec.DeepCopy()

		// The re-apply must not conflict with anything the operator wrote (no force needed).
		applyAsGitOps(gitopsUser, ns)
		applyAsGitOps(gitopsPasscode, ns)
		Consistently(func(g Gomega) {
			g.Expect(getPasscode(g, ns, "git-api").Spec).To(Equal(*specBefore))
			g.Expect(getUser(g, ns, "git-user").Spec).To(Equal(*userBefore))
			g.Expect(getPasscode(g, ns, "git-api").Status.Revision).To(Equal(int64(1)), "a re-apply rotates nothing")
		}).WithTimeout(2 * time.Second).Should(Succeed())

		// Every spec field belongs to the GitOps tool alone.
		for _, obj := range []client.Object{&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}} {
			name := "git-api"
			if _, ok := obj.(*accessv1alpha1.DashboardUser); ok {
				name = "git-user"
			}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)).To(Succeed())
			for _, mf := range obj.GetManagedFields() {
				if mf.Manager == "argocd-controller" || mf.Subresource == "status" {
					continue
				}
				Expect(mf.FieldsV1.GetRawString()).NotTo(ContainSubstring(`"f:spec"`), "%s writes spec of %s", mf.Manager, name)
			}
		}
	})
})
