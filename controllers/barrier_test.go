package controllers_test

import (
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// reconciledAfter is the barrier for "nothing happened": change (a spec edit that changes nothing
// the controller reports) bumps obj's generation, and reconciledAfter waits until status says the
// controller reconciled that generation. That reconcile read the object with every change made
// before the edit (a poke, an annotation re-applied), so what it wrote, or did not write, about
// them is in place when this returns: no fixed wait, no Consistently that could pass before the
// controller looked. observedGen reads status.observedGeneration.
func reconciledAfter[T any, P interface {
	*T
	client.Object
}](ns, name string, change func(P), observedGen func(P) int64) P {
	var obj P
	Eventually(func(g Gomega) {
		obj = get[T, P](g, ns, name)
		change(obj)
		g.Expect(k8sClient.Update(ctx, obj)).To(Succeed())
	}).Should(Succeed())
	gen := obj.GetGeneration()
	Eventually(func(g Gomega) {
		obj = get[T, P](g, ns, name)
		g.Expect(obj.GetGeneration()).To(Equal(gen), "the spec changed again meanwhile")
		g.Expect(observedGen(obj)).To(Equal(gen), "not reconciled since the edit")
	}).WithTimeout(15 * time.Second).Should(Succeed())
	return obj
}

// withGeneration is old with each condition's observedGeneration taken from now (by type): what now
// must equal when a reconcile changed nothing but the generation it observed.
func withGeneration(now, old []metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(old))
	for i, c := range old {
		if n := apimeta.FindStatusCondition(now, c.Type); n != nil {
			c.ObservedGeneration = n.ObservedGeneration
		}
		out[i] = c
	}
	return out
}
