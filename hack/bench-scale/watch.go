package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// This file holds the concurrency helpers: a pool of workers that creates objects, and milestones
// that record, from the bench's watches, when each object first reached a state.

// parallel runs do(ctx, i) for i in [0, n) on workers goroutines; the first error stops the rest.
func parallel(ctx context.Context, n, workers int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// milestone records when each of a known set of names first met a condition, as seen by a watch.
type milestone struct {
	mu    sync.Mutex
	want  map[string]bool
	first map[string]time.Time
	last  time.Time // when the last name got there
	done  chan struct{}
}

func newMilestone(names []string) *milestone {
	m := &milestone{want: make(map[string]bool, len(names)), first: make(map[string]time.Time, len(names)), done: make(chan struct{})}
	for _, n := range names {
		m.want[n] = true
	}
	if len(names) == 0 {
		close(m.done)
	}
	return m
}

// mark records name at now, once; names outside the set are ignored.
func (m *milestone) mark(name string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.want[name] {
		return
	}
	if _, seen := m.first[name]; seen {
		return
	}
	m.first[name] = now
	if now.After(m.last) {
		m.last = now
	}
	if len(m.first) == len(m.want) {
		close(m.done)
	}
}

func (m *milestone) reached() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.first)
}

func (m *milestone) lastAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// wait returns when every name got there, or fails after timeout saying how many did, or as
// soon as exited is closed (the manager died: nothing more will get there).
func (m *milestone) wait(ctx context.Context, what string, timeout time.Duration, exited <-chan struct{}) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for {
		select {
		case <-m.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("%s: the manager exited with %d of %d done", what, m.reached(), len(m.want))
		case <-t.C:
			return fmt.Errorf("%s: only %d of %d within %s", what, m.reached(), len(m.want), timeout)
		case <-progress.C:
			say("  %s: %d of %d", what, m.reached(), len(m.want))
		}
	}
}

// await is m.wait that also stops when the manager exits.
func (b *bench) await(ctx context.Context, m *milestone, what string, timeout time.Duration) error {
	err := m.wait(ctx, what, timeout, b.mgr.Exited())
	if err != nil && !b.mgr.Running() {
		err = fmt.Errorf("%w; its last lines:\n%s", err, b.managerTail(20))
	}
	return err
}

// onChange registers handle for every add and update of obj's kind in the bench's watch cache
// (objects already there are replayed as adds) and returns the function that unregisters it.
// Handlers of one kind are called one at a time, in the order the API server sent the changes.
func (b *bench) onChange(ctx context.Context, obj client.Object, handle func(client.Object, time.Time)) (func(), error) {
	inf, err := b.watch.GetInformer(ctx, obj)
	if err != nil {
		return nil, err
	}
	call := func(o any) {
		if co, ok := o.(client.Object); ok {
			handle(co, time.Now())
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { call(o) },
		UpdateFunc: func(_, o any) { call(o) },
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = inf.RemoveEventHandler(reg) }, nil
}
