package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var barriers atomic.Int32

// reconciledAfter is the barrier for "nothing (more) happened": a merge patch of obj's spec that
// changes nothing the controller acts on bumps its generation, and reconciledAfter waits until
// status.observedGeneration says the controller reconciled it. The controller handles one object
// at a time, so every reconcile of obj queued before the edit is done, and the one after it saw
// every earlier change: no fixed sleep, no window a late write could still land in. observed reads
// status.observedGeneration of obj (a *DashboardUser or *Passcode) after a Get.
func reconciledAfter(t *testing.T, c client.Client, obj client.Object, specPatch string, observed func() int64) {
	t.Helper()
	ctx := context.Background()
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"spec":`+specPatch+`}`))); err != nil {
		t.Fatalf("the barrier's edit of %s: %v", obj.GetName(), err)
	}
	gen := obj.GetGeneration()
	key := client.ObjectKeyFromObject(obj)
	waitFor(t, 30*time.Second, fmt.Sprintf("%s to be reconciled at generation %d", key, gen), func() bool {
		return c.Get(ctx, key, obj) == nil && obj.GetGeneration() == gen && observed() == gen
	})
}

// userReconciledAfter is reconciledAfter with a new display name, which changes nothing the
// DashboardUser reconciler sends or writes but observedGeneration.
func userReconciledAfter(t *testing.T, c client.Client, ns, name string) *accessv1alpha1.DashboardUser {
	t.Helper()
	u := &accessv1alpha1.DashboardUser{}
	u.Namespace, u.Name = ns, name
	reconciledAfter(t, c, u, fmt.Sprintf(`{"displayName":"barrier %d"}`, barriers.Add(1)), func() int64 { return u.Status.ObservedGeneration })
	return u
}
