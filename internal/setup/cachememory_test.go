package setup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/scim"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// Issue 22, item 4: anyone who may create Secrets anywhere can label big ones as the operator's
// (managed-by) or as SCIM tokens, and both caches take them in on every replica, SCIM on or not.
// The caches the production setup builds (ManagerOptions, NewSCIMTokenCache) must hold each such
// Secret at a small bounded cost: the heap after syncing both caches on bigSecrets Secrets of
// bigSecretBytes each grows by at most maxHeapGrowth (the old caches held every byte: about
// bigSecrets × bigSecretBytes).
const (
	bigSecrets     = 150 // per label: 300 Secrets, 264 MiB in etcd
	bigSecretBytes = 900 << 10
	maxHeapGrowth  = 20 << 20
)

func TestLabelledSecretsCostTheCachesLittle(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "flood"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team", Annotations: map[string]string{accessv1alpha1.SCIMEnabledAnnotation: "true"}}}} {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}

	managed := map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}
	token := map[string]string{accessv1alpha1.SCIMTokenLabel: "true"}
	big := bytes.Repeat([]byte("x"), bigSecretBytes)
	started := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 { // a few writers: etcd takes one 900 KB write at a time anyway
		wg.Go(func() {
			for i := w; i < 2*bigSecrets; i += 4 {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "flood", Name: fmt.Sprintf("big-%d", i), Labels: managed},
					Data: map[string][]byte{"passcode": big}}
				if i%2 == 1 {
					s.Labels, s.Data = token, map[string][]byte{accessv1alpha1.SCIMTokenKey: big}
				}
				if err := c.Create(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// A small Secret of each kind: the caches still hold what the operator and SCIM read.
	const realToken = "team-token-0123456789"
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane-api", Labels: managed},
		Data: map[string][]byte{"passcode": []byte("p4ss"), "account": []byte("team")}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "scim", Labels: token},
		Data: map[string][]byte{accessv1alpha1.SCIMTokenKey: []byte(realToken)}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d Secrets of %d KiB in %s", 2*bigSecrets, bigSecretBytes>>10, time.Since(started).Round(time.Millisecond))

	scheme, err := setup.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	o := options.Default()
	o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
	mgrOpts := setup.ManagerOptions(options.Config{Options: o}, scheme)
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := setup.NewSCIMTokenCache(mgr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Secret{}); err != nil {
		t.Fatal(err)
	}
	big = nil
	before := heap()

	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with an error: %v", err)
		}
	}()
	syncCtx, syncCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) || !tokens.WaitForCacheSync(syncCtx) {
		t.Fatal("the caches did not sync")
	}
	// Both caches hold every labelled Secret: what they keep of each is what is measured.
	var ours, tokenSecrets corev1.SecretList
	if err := mgr.GetCache().List(ctx, &ours); err != nil {
		t.Fatal(err)
	}
	if err := tokens.List(ctx, &tokenSecrets); err != nil {
		t.Fatal(err)
	}
	if len(ours.Items) != bigSecrets+1 || len(tokenSecrets.Items) != bigSecrets+1 {
		t.Fatalf("cached %d managed and %d token Secrets, want %d of each", len(ours.Items), len(tokenSecrets.Items), bigSecrets+1)
	}
	ours.Items, tokenSecrets.Items = nil, nil
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("heap before the caches synced %.1f MiB, after %.1f MiB: %.2f MiB for %d Secrets of %d KiB (%d bytes each; the Secrets hold %.0f MiB)",
		mib(before), mib(after), float64(growth)/(1<<20), 2*bigSecrets, bigSecretBytes>>10, growth/int64(2*bigSecrets),
		float64(2*bigSecrets*bigSecretBytes)/(1<<20))
	if growth > maxHeapGrowth {
		t.Errorf("the caches grew the heap by %.1f MiB, more than %d MiB", float64(growth)/(1<<20), maxHeapGrowth>>20)
	}

	// What is read still is there: the operator's small Secret whole, the real token's digest.
	small := &corev1.Secret{}
	if err := mgr.GetCache().Get(ctx, client.ObjectKey{Namespace: "team", Name: "jane-api"}, small); err != nil || string(small.Data["passcode"]) != "p4ss" {
		t.Errorf("the operator's small Secret: %v %v", err, small.Data)
	}
	digests, err := scim.SecretTokens{Reader: tokens, Namespaces: mgr.GetCache()}.Tokens(ctx, "team")
	if err != nil || len(digests) != 1 || digests[0] != sha256.Sum256([]byte(realToken)) {
		t.Errorf("the token's digest: %v %d", err, len(digests))
	}
	runtime.KeepAlive(mgr)
	runtime.KeepAlive(tokens)
}

// heap is the live heap after a full collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
