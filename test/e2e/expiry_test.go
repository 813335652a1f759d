package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
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

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(state, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "default", Name: "omar-trial"}
	pc := &accessv1alpha1.Passcode{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := c.Get(ctx, key, pc); err == nil && pc.Status.Phase == accessv1alpha1.PasscodeActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sample passcode never became Active: %+v\n%s", pc.Status, dev.output)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
