package setup_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestFieldIndexesKeepOneKeyPerValue (issue 25): the cache indexes the manager registers hold one
// key per indexed value (controller-runtime's IndexField held two: one per namespace and one across
// namespaces, each with a set of its own), and every index still answers its callers' Lists
// through the real cache, in the scope they ask it: a user's Passcodes and a role's users in their
// namespace, the Passcodes copying into a namespace across namespaces. (Invite links are the access
// server's own index: internal/accessserver.)
func TestFieldIndexesKeepOneKeyPerValue(t *testing.T) {
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

	const users = 3
	for _, ns := range []string{"team-a", "team-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for i := range users {
			name := fmt.Sprintf("user-%d", i)
			u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: "auditor"}}
			if err := c.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			u.Status.Invite = &accessv1alpha1.InviteStatus{TokenHash: fmt.Sprintf("hash-%s-%d", ns, i)}
			if err := c.Status().Update(ctx, u); err != nil {
				t.Fatal(err)
			}
			pc := &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-api"},
				Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: name}, Tenure: "30d",
					SecretCopies: []accessv1alpha1.SecretCopy{{Namespace: "apps", Name: ns + "-" + name}}}}
			if err := c.Create(ctx, pc); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, watch := range [][]string{nil, {"team-a", "team-b", "apps"}} {
		t.Run(fmt.Sprintf("watch namespaces %v", watch), func(t *testing.T) {
			scheme, err := setup.Scheme()
			if err != nil {
				t.Fatal(err)
			}
			o := options.Default()
			o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
			op, err := ctrl.NewManager(cfg, setup.ManagerOptions(options.Config{Options: o, WatchNamespaceList: watch}, scheme))
			if err != nil {
				t.Fatal(err)
			}
			if err := setup.Indexes(op.GetCache()); err != nil {
				t.Fatal(err)
			}
			// Only the cache runs: what is measured is what Indexes registered on it (Controllers calls it).
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { _ = op.GetCache().Start(ctx) }()
			syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
			defer syncCancel()
			if !op.GetCache().WaitForCacheSync(syncCtx) {
				t.Fatal("the cache did not sync")
			}

			// Every index answers its callers' Lists.
			var pcs accessv1alpha1.PasscodeList
			if err := op.GetCache().List(ctx, &pcs, client.InNamespace("team-b"), client.MatchingFields{controllers.UserRefIndex: "user-1"}); err != nil ||
				len(pcs.Items) != 1 || pcs.Items[0].Namespace != "team-b" || pcs.Items[0].Name != "user-1-api" {
				t.Errorf("user-1's Passcodes in team-b: %v %d", err, len(pcs.Items))
			}
			if err := op.GetCache().List(ctx, &pcs, client.MatchingFields{controllers.SecretCopiesIndex: "apps"}); err != nil || len(pcs.Items) != 2*users {
				t.Errorf("the Passcodes copying into apps: %v %d, want %d", err, len(pcs.Items), 2*users)
			}
			var us accessv1alpha1.DashboardUserList
			if err := op.GetCache().List(ctx, &us, client.InNamespace("team-a"), client.MatchingFields{controllers.RoleIndex: "auditor"}); err != nil || len(us.Items) != users {
				t.Errorf("team-a's auditors: %v %d, want %d", err, len(us.Items), users)
			}

			// One key per indexed value (behind --watch-namespaces the informer is a wrapper of one
			// per namespace, which hands out no indexer: the Lists above are what is checked there).
			if watch != nil {
				return
			}
			for _, ix := range []struct {
				obj   client.Object
				field string
			}{
				{&accessv1alpha1.Passcode{}, controllers.UserRefIndex},
				{&accessv1alpha1.Passcode{}, controllers.SecretCopiesIndex},
				{&accessv1alpha1.DashboardUser{}, controllers.RoleIndex},
			} {
				informer, err := op.GetCache().GetInformer(ctx, ix.obj, cache.BlockUntilSynced(false))
				if err != nil {
					t.Fatal(err)
				}
				keys := informer.(toolscache.SharedIndexInformer).GetIndexer().ListIndexFuncValues("field:" + ix.field)
				slices.Sort(keys)
				want := map[string]int{controllers.UserRefIndex: 2 * users, controllers.SecretCopiesIndex: 1,
					controllers.RoleIndex: 2}[ix.field]
				t.Logf("index %s: %d keys %v", ix.field, len(keys), keys)
				if len(keys) != want {
					t.Errorf("index %s holds %d keys, want %d (one per value)", ix.field, len(keys), want)
				}
			}
		})
	}
}
