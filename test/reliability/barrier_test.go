package reliability

import (
	"fmt"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var barriers int

// reconciledAfter is the barrier for "nothing more happens": specPatch (a merge patch of the spec
// that changes nothing the controller acts on) bumps each object's generation, and reconciledAfter
// waits until status.observedGeneration says its controller reconciled that generation. The
// controller handles one object at a time, so every reconcile of them queued before the edit is
// done and the one after it saw every earlier change: what a late repair, a second invite or a
// stale cache would have done is in place, with no fixed sleep.
func reconciledAfter(objs map[client.Object]string) {
	gens := map[client.Object]int64{}
	for obj, specPatch := range objs {
		mergePatch(obj, `{"spec":`+specPatch+`}`)
		gens[obj] = obj.GetGeneration()
	}
	Eventually(func(g Gomega) {
		var behind []string
		for obj, gen := range gens {
			g.Expect(op.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			if observedGeneration(obj) != gen || obj.GetGeneration() != gen {
				behind = append(behind, fmt.Sprintf("%s at %d of %d", obj.GetName(), observedGeneration(obj), gen))
			}
		}
		g.Expect(behind).To(BeEmpty(), "not reconciled since the barrier's edit")
	}).WithTimeout(2 * time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
}

func observedGeneration(obj client.Object) int64 {
	switch o := obj.(type) {
	case *accessv1alpha1.Passcode:
		return o.Status.ObservedGeneration
	case *accessv1alpha1.DashboardUser:
		return o.Status.ObservedGeneration
	}
	panic(fmt.Sprintf("no observedGeneration in %T", obj))
}

// userBarrier is the spec edit of a user for reconciledAfter: a new display name.
func userBarrier(ns, name string) (client.Object, string) {
	barriers++
	return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		fmt.Sprintf(`{"displayName":"barrier %d"}`, barriers)
}
