package accessserver

import (
	"context"
	"fmt"
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
		l.flush(ctx, l.queue(passcodeKind, e.passcode, e.at), l.queue(userKind, e.user, e.at))
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

// TestLastUseQueue: a use makes a pending object of the right kind, namespace and name; a later
// use of a pending object moves its time without making another object, an earlier one does not.
func TestLastUseQueue(t *testing.T) {
	l := newLastUse(fake.NewClientBuilder().Build(), clocktesting.NewFakeClock(now), time.Minute)
	key := types.NamespacedName{Namespace: "team", Name: "api"}
	for _, c := range []struct {
		kind usedKind
		obj  client.Object
	}{{passcodeKind, &accessv1alpha1.Passcode{}}, {userKind, &accessv1alpha1.DashboardUser{}}} {
		id := l.queue(c.kind, key, now)
		first := l.pending[id].obj
		if fmt.Sprintf("%T", first) != fmt.Sprintf("%T", c.obj) || first.GetNamespace() != "team" || first.GetName() != "api" {
			t.Errorf("pending object %T %s/%s", first, first.GetNamespace(), first.GetName())
		}
		l.queue(c.kind, key, now.Add(time.Second))
		if p := l.pending[id]; p.obj != first || !p.at.Equal(now.Add(time.Second)) {
			t.Errorf("a later use: %+v", p)
		}
		l.queue(c.kind, key, now)
		if p := l.pending[id]; !p.at.Equal(now.Add(time.Second)) {
			t.Errorf("an earlier use moved the time back: %v", p.at)
		}
	}
	if len(l.pending) != 2 {
		t.Errorf("a Passcode and a user of the same name are two objects: %d pending", len(l.pending))
	}
}

// TestLastUseRunTakesEveryUse: the worker stamps a use at once when idle, takes every use of a
// burst (gathered), and stops with its context.
func TestLastUseRunTakesEveryUse(t *testing.T) {
	var mu sync.Mutex
	patched := map[string]int{}
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
			mu.Lock()
			defer mu.Unlock()
			patched[fmt.Sprintf("%T %s", obj, obj.GetName())]++
			return nil
		},
	}).Build()
	l := newLastUse(c, clocktesting.NewFakeClock(now), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx, time.Hour); close(done) }()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(patched)
	}
	use := func(name string) {
		l.record(useEvent{passcode: types.NamespacedName{Namespace: "team", Name: name},
			user: types.NamespacedName{Namespace: "team", Name: "user-" + name}, at: now})
	}
	wait := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d objects stamped, want %d: %v", count(), n, patched)
			}
		}
	}
	use("first")
	wait(2)
	for i := range 50 {
		use(fmt.Sprint(i))
	}
	wait(102)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not stop")
	}
	for k, n := range patched {
		if n != 1 {
			t.Errorf("%s stamped %d times", k, n)
		}
	}
}
