package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var _ = Describe("The manager's cache", func() {
	It("holds only the Secrets the operator labels", func() {
		ns := newNamespace()
		labelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours",
			Labels: map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}}}
		unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}}
		Expect(k8sClient.Create(ctx, unlabelled)).To(Succeed())
		Expect(k8sClient.Create(ctx, labelled)).To(Succeed())

		Eventually(func() error {
			return mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: ns, Name: "ours"}, &corev1.Secret{})
		}).Should(Succeed())
		// The labelled one arrived after the unlabelled one, so the cache has seen both events by now.
		err := mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: ns, Name: "theirs"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "an unlabelled Secret must never enter the cache, got %v", err)

		list := &corev1.SecretList{}
		Expect(mgr.GetCache().List(ctx, list)).To(Succeed())
		for _, s := range list.Items {
			Expect(s.Labels).To(HaveKeyWithValue(accessv1alpha1.ManagedByLabel, accessv1alpha1.ManagedByValue))
			Expect(s.ManagedFields).To(BeEmpty(), "managedFields are stripped from cached objects")
		}
	})
})
