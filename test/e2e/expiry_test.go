package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

// TestSamplePasscodeExpiresOnTime runs the built manager with the real clock: the 1m sample
// passcode is Active with its Secret, then Expired within 2 s of its expiresAt, as the operator
// requeues at the deadline instead of polling.
func TestSamplePasscodeExpiresOnTime(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	dev := startDev(t, state)
	defer dev.interrupt()
	dev.kubectl("apply", "-f", "config/samples/")

	c := dev.client()
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "default", Name: "omar-trial"}
	pc := &accessv1alpha1.Passcode{}
	waitFor(t, 30*time.Second, "the sample passcode to become Active", func() bool {
		return c.Get(ctx, key, pc) == nil && pc.Status.Phase == accessv1alpha1.PasscodeActive
	})
	secret := &corev1.Secret{}
	if err := c.Get(ctx, key, secret); err != nil || len(secret.Data[passcodesecret.KeyPasscode]) == 0 {
		t.Fatalf("the Active passcode's Secret holds no passcode: %v", err)
	}
	expiresAt := pc.Status.ExpiresAt.Time
	if got := expiresAt.Sub(pc.Status.IssuedAt.Time); got != time.Minute {
		t.Fatalf("tenure 1m gave expiresAt - issuedAt = %v", got)
	}

	time.Sleep(time.Until(expiresAt) - time.Second)
	for {
		if err := c.Get(ctx, key, pc); err == nil && pc.Status.Phase == accessv1alpha1.PasscodeExpired {
			break
		}
		if time.Now().After(expiresAt.Add(2 * time.Second)) {
			t.Fatalf("not Expired 2 s after expiresAt (%s): phase %s", expiresAt.Format(time.RFC3339), pc.Status.Phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if late := time.Since(expiresAt); late < 0 {
		t.Fatalf("Expired %v before expiresAt", -late)
	} else {
		t.Logf("Expired %v after expiresAt", late.Round(time.Millisecond))
	}
	if err := c.Get(ctx, key, secret); err != nil {
		t.Fatal(err)
	}
	if _, has := secret.Data[passcodesecret.KeyPasscode]; has {
		t.Fatal("the expired passcode is still in the Secret")
	}
}
