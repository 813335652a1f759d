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
	written map[useID]time.Time // object -> when we last patched it
	pending map[useID]pendingUse
}

type pendingUse struct {
	obj client.Object
	at  time.Time
}

func newLastUse(writer client.Client, clk clock.PassiveClock, interval time.Duration) *lastUse {
	return &lastUse{writer: writer, clock: clk, interval: interval, events: make(chan useEvent, 4096),
		written: map[useID]time.Time{}, pending: map[useID]pendingUse{}}
}

// record never blocks the request that calls it.
func (l *lastUse) record(e useEvent) {
	select {
	case l.events <- e:
	default:
		metrics.LastUseDropped.Inc()
	}
}

// gatherUses is how long the worker lets uses queue up after taking one, before it takes them all:
// under load it is then woken about once per gatherUses, not once per request (a wake-up costs the
// request path more than the event itself). A use is still taken at once when the worker is idle.
const gatherUses = 5 * time.Millisecond

// run writes until ctx ends; tick is how often coalesced stamps are flushed.
func (l *lastUse) run(ctx context.Context, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	gather := time.NewTimer(gatherUses)
	defer gather.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-l.events:
			l.use(ctx, e)
			gather.Reset(gatherUses)
			select {
			case <-ctx.Done():
				return
			case <-gather.C:
			}
			l.drain(ctx)
		case <-ticker.C:
			l.flush(ctx)
		}
	}
}

// drain takes the uses queued up, in order, until there are none.
func (l *lastUse) drain(ctx context.Context) {
	for {
		select {
		case e := <-l.events:
			l.use(ctx, e)
		default:
			return
		}
	}
}

// use queues one use and flushes its objects.
func (l *lastUse) use(ctx context.Context, e useEvent) {
	at := metav1Seconds(e.at)
	// Only this event's objects: a sweep of everything per request would cost O(active set).
	l.flush(ctx, l.queue(passcodeKind, e.passcode, at), l.queue(userKind, e.user, at))
}

// usedKind is the kind of object a use is stamped on.
type usedKind uint8

const (
	passcodeKind usedKind = iota
	userKind
)

// useID names an object a use is stamped on (it was fmt.Sprintf("%T/%s", obj, key), a string made
// with reflection for each use).
type useID struct {
	kind usedKind
	key  types.NamespacedName
}

// object is the object to patch: only its kind, namespace and name are set.
func (id useID) object() client.Object {
	var obj client.Object = &accessv1alpha1.DashboardUser{}
	if id.kind == passcodeKind {
		obj = &accessv1alpha1.Passcode{}
	}
	obj.SetNamespace(id.key.Namespace)
	obj.SetName(id.key.Name)
	return obj
}

// queue records a use of an object and returns the object's id. The object to patch is made when
// the object has no pending use yet; a later use only moves the time.
func (l *lastUse) queue(kind usedKind, key types.NamespacedName, at time.Time) useID {
	id := useID{kind: kind, key: key}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pending[id]
	switch {
	case !ok:
		l.pending[id] = pendingUse{obj: id.object(), at: at}
	case at.After(p.at):
		l.pending[id] = pendingUse{obj: p.obj, at: at}
	}
	return id
}

// flush patches the pending objects (those named, or all) whose last patch is at least one
// interval old.
func (l *lastUse) flush(ctx context.Context, ids ...useID) {
	now := l.clock.Now()
	l.mu.Lock()
	var due []pendingUse
	take := func(id useID) {
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
