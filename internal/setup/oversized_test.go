package setup_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestAnOversizedSecretIsStillWatchedOver: the manager's cache keeps no data of a Secret larger
// than its bound (issue 22, item 4), here a Passcode's Secret another tool added a 900 KB key to.
// The operator still repairs it when its passcode is edited, as it does any Secret: it confirms
// every Secret the cache does not show in sync with a live read.
func TestAnOversizedSecretIsStillWatchedOver(t *testing.T) {
	op, err := testenv.StartOperator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = op.Stop() }()
	ctx := context.Background()
	ns, err := op.NewNamespace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.CreateUser(ctx, ns, "jane"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.CreatePasscode(ctx, ns, "api", "jane", "1h"); err != nil {
		t.Fatal(err)
	}
	pc := &accessv1alpha1.Passcode{}
	key := client.ObjectKey{Namespace: ns, Name: "api"}
	eventually(t, "the Passcode is Active", func() bool {
		return op.Client.Get(ctx, key, pc) == nil && pc.Status.Phase == accessv1alpha1.PasscodeActive
	})

	s := &corev1.Secret{}
	if err := op.Client.Get(ctx, key, s); err != nil {
		t.Fatal(err)
	}
	s.Data["bulky"] = make([]byte, 900<<10)
	s.Data[passcodesecret.KeyPasscode] = []byte("dpc_mine")
	if err := op.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cache holds the Secret without its data", func() bool {
		cached := &corev1.Secret{}
		return op.GetCache().Get(ctx, key, cached) == nil && cached.ResourceVersion == s.ResourceVersion && cached.Data == nil
	})
	eventually(t, "the edited passcode is replaced by one matching the status", func() bool {
		live := &corev1.Secret{}
		if op.Client.Get(ctx, key, live) != nil || op.Client.Get(ctx, key, pc) != nil {
			return false
		}
		v := string(live.Data[passcodesecret.KeyPasscode])
		return v != "dpc_mine" && passcode.Matches(v, pc.Status.Hash) && len(live.Data["bulky"]) == 900<<10
	})
	t.Logf("repaired: now revision %d", pc.Status.Revision)
}

// eventually polls cond every 50 ms for up to 30 s (informers on a loaded machine can be slow).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
