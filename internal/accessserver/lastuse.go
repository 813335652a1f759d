package accessserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
)

// useEvent is one successful authentication.
type useEvent struct {
	passcode, user types.NamespacedName
	at             time.Time
}

// lastUse writes Passcode.status.lastUsedAt and DashboardUser.status.lastLoginAt off the request
// path: requests hand events over without waiting (a full queue drops them, counted in a metric),
// and a worker writes at most one status patch per object per interval. The patch is a merge patch
// of that one field with no resourceVersion, so replicas racing to stamp the same object never
// conflict and never undo each other's other fields.
type lastUse struct {
	writer   client.Client
	clock    clock.PassiveClock
	interval time.Duration
	events   chan useEvent

	mu      sync.Mutex
	written map[string]time.Time // object -> when we last patched it
	pending map[string]pendingUse
}

type pendingUse struct {
	obj client.Object
	at  time.Time
}

func newLastUse(writer client.Client, clk clock.PassiveClock, interval time.Duration) *lastUse {
	return &lastUse{writer: writer, clock: clk, interval: interval, events: make(chan useEvent, 4096),
		written: map[string]time.Time{}, pending: map[string]pendingUse{}}
}

// record never blocks the request that calls it.
func (l *lastUse) record(e useEvent) {
	select {
	case l.events <- e:
	default:
		metrics.LastUseDropped.Inc()
	}
}

// run writes until ctx ends; tick is how often coalesced stamps are flushed.
func (l *lastUse) run(ctx context.Context, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-l.events:
			at := metav1Seconds(e.at)
			// Only this event's objects: a sweep of everything per request would cost O(active set).
			l.flush(ctx, l.queue(&accessv1alpha1.Passcode{}, e.passcode, at), l.queue(&accessv1alpha1.DashboardUser{}, e.user, at))
		case <-ticker.C:
			l.flush(ctx)
		}
	}
}

// queue records a use of an object and returns the object's id.
func (l *lastUse) queue(obj client.Object, key types.NamespacedName, at time.Time) string {
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	id := fmt.Sprintf("%T/%s", obj, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[id]; !ok || at.After(p.at) {
		l.pending[id] = pendingUse{obj: obj, at: at}
	}
	return id
}

// flush patches the pending objects (those named, or all) whose last patch is at least one
// interval old.
func (l *lastUse) flush(ctx context.Context, ids ...string) {
	now := l.clock.Now()
	l.mu.Lock()
	var due []pendingUse
	take := func(id string) {
		p, ok := l.pending[id]
		if !ok {
			return
		}
		if last, ok := l.written[id]; ok && now.Sub(last) < l.interval {
			return
		}
		due = append(due, p)
		l.written[id] = now
		delete(l.pending, id)
	}
	if len(ids) > 0 {
		for _, id := range ids {
			take(id)
		}
	} else {
		for id := range l.pending {
			take(id)
		}
		// Forget objects not written for a while, so the map stays as small as the active set.
		for id, last := range l.written {
			if now.Sub(last) > 10*l.interval {
				delete(l.written, id)
			}
		}
	}
	l.mu.Unlock()

	for _, p := range due {
		field := "lastUsedAt"
		if _, ok := p.obj.(*accessv1alpha1.DashboardUser); ok {
			field = "lastLoginAt"
		}
		patch := fmt.Appendf(nil, `{"status":{%q:%q}}`, field, p.at.UTC().Format(time.RFC3339))
		if err := l.writer.Status().Patch(ctx, p.obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
			log.FromContext(ctx).V(1).Info("Could not record last use", "object", client.ObjectKeyFromObject(p.obj), "error", err.Error())
		}
	}
}

func metav1Seconds(t time.Time) time.Time { return t.Truncate(time.Second) }
