package accessserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestLastUseIsCoalesced: many uses of one object in a minute make one status patch; the latest
// use is written once the minute is over.
func TestLastUseIsCoalesced(t *testing.T) {
	var mu sync.Mutex
	patches := map[string][]string{}
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, patch client.Patch, _ ...client.SubResourcePatchOption) error {
			data, _ := patch.Data(obj)
			mu.Lock()
			defer mu.Unlock()
			patches[obj.GetName()] = append(patches[obj.GetName()], string(data))
			return nil
		},
	}).Build()
	clk := clocktesting.NewFakeClock(now)
	l := newLastUse(c, clk, time.Minute)
	ctx := context.Background()
	use := func(at time.Time) {
		e := useEvent{passcode: types.NamespacedName{Namespace: "team", Name: "api"},
			user: types.NamespacedName{Namespace: "team", Name: "jane"}, at: at}
		l.flush(ctx, l.queue(&accessv1alpha1.Passcode{}, e.passcode, e.at), l.queue(&accessv1alpha1.DashboardUser{}, e.user, e.at))
	}
	for i := range 100 {
		use(now.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	if n := len(patches["api"]); n != 1 {
		t.Fatalf("%d patches of the Passcode for 100 uses within a minute, want 1", n)
	}
	if n := len(patches["jane"]); n != 1 {
		t.Fatalf("%d patches of the user, want 1", n)
	}
	if patches["api"][0] != `{"status":{"lastUsedAt":"2026-03-01T10:00:00Z"}}` ||
		patches["jane"][0] != `{"status":{"lastLoginAt":"2026-03-01T10:00:00Z"}}` {
		t.Fatalf("patches %q: one field each, nothing else", patches)
	}
	clk.Step(time.Minute)
	l.flush(ctx) // the periodic sweep writes the latest use
	if n := len(patches["api"]); n != 2 || patches["api"][1] != `{"status":{"lastUsedAt":"2026-03-01T10:00:09Z"}}` {
		t.Fatalf("after a minute: %q", patches["api"])
	}
}
