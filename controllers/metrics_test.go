package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// series finds the value of a metric with the given labels in controller-runtime's registry.
func series(g Gomega, name string, labels map[string]string) (float64, bool) {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue(), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

var _ = Describe("Passcode metrics", func() {
	It("export expiry and renewal times, phases and counters, without secrets", func() {
		ns := newNamespace()
		createUser(ns, "jane")
		createPasscode(ns, "metered", "jane", "30d", func(pc *accessv1alpha1.Passcode) {
			pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic}
		})
		pc := waitForPasscode(ns, "metered", inPhase(accessv1alpha1.PasscodeActive, 1))

		Eventually(func(g Gomega) {
			v, ok := series(g, "access_operator_passcode_expiration_timestamp_seconds",
				map[string]string{"namespace": ns, "name": "metered", "user": "jane", "rotation": "Automatic"})
			g.Expect(ok).To(BeTrue())
			g.Expect(v).To(Equal(float64(pc.Status.ExpiresAt.Unix())))
			v, ok = series(g, "access_operator_passcode_renewal_timestamp_seconds", map[string]string{"namespace": ns, "name": "metered"})
			g.Expect(ok).To(BeTrue())
			g.Expect(v).To(Equal(float64(pc.Status.RenewalTime.Unix())))
			v, ok = series(g, "access_operator_passcodes", map[string]string{"namespace": ns, "phase": "Active"})
			g.Expect(ok).To(BeTrue())
			g.Expect(v).To(Equal(1.0))
			v, ok = series(g, "access_operator_passcode_issues_total", map[string]string{"namespace": ns})
			g.Expect(ok).To(BeTrue())
			g.Expect(v).To(Equal(1.0))
		}).Should(Succeed())

		requestReset(pc, "2026-05-01T00:00:00Z")
		waitForPasscode(ns, "metered", inPhase(accessv1alpha1.PasscodeActive, 2))
		Eventually(func(g Gomega) float64 {
			v, _ := series(g, "access_operator_passcode_resets_total", map[string]string{"namespace": ns})
			return v
		}).Should(Equal(1.0))
	})

	It("count a failure by controller and reason, and the object in the failing gauge until it is fixed", func() {
		ns := newNamespace()
		createUser(ns, "jane")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "held"},
			StringData: map[string]string{"password": "theirs"}})).To(Succeed())
		failures := func(g Gomega) float64 {
			v, _ := series(g, "access_operator_reconcile_failures_total", map[string]string{"controller": "passcode", "reason": "SecretConflict"})
			return v
		}
		stalled := func(g Gomega) float64 {
			v, _ := series(g, "access_operator_objects_failing", map[string]string{"kind": "Passcode", "state": "Stalled"})
			return v
		}
		before, stalledBefore := failures(Default), stalled(Default)
		createPasscode(ns, "stalls", "jane", "1h", func(pc *accessv1alpha1.Passcode) { pc.Spec.SecretName = "held" })
		waitForPasscode(ns, "stalls", func(g Gomega, pc *accessv1alpha1.Passcode) {
			g.Expect(readyReason(pc)).To(Equal("False/SecretConflict"))
		})
		Eventually(failures).Should(BeNumerically(">", before))
		Eventually(stalled).Should(BeNumerically(">", stalledBefore))

		// Fixed (the Secret goes): no longer counted as Stalled.
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metaName(ns, "held")})).To(Succeed())
		waitForPasscode(ns, "stalls", inPhase(accessv1alpha1.PasscodeActive, 1))
		Eventually(stalled).Should(BeNumerically("<=", stalledBefore))
	})
})
