package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file measures the manager's heap through its pprof endpoint (?gc=1 forces a collection, so
// HeapAlloc is live memory) and what unrelated Secrets cost it.

// heapSample is runtime.MemStats as the manager's /debug/pprof/heap?debug=1 prints it.
type heapSample struct {
	heapAlloc   uint64
	heapObjects uint64
}

// heapResult is the heap before and after one phase.
type heapResult struct {
	before, after heapSample
}

func (h heapResult) growth() int64 { return int64(h.after.heapAlloc) - int64(h.before.heapAlloc) } //nolint:gosec // heaps are far below 2^63

// secretsResult is the unrelated Secrets phase's figures.
type secretsResult struct {
	count    int
	heap     heapResult
	requests int // the manager's requests (reads and writes) meanwhile: 0 expected
}

const (
	unrelatedSecrets    = 2000
	unrelatedSecretSize = 1024
	// unrelatedSettle lets the manager's watches deliver (or not) the new Secrets before measuring.
	unrelatedSettle = 5 * time.Second
	// quietFor is how long the manager must write nothing to count as settled.
	quietFor = 3 * time.Second
	// quietMax bounds the wait for quiet; a manager that never settles is measured anyway.
	quietMax        = 2 * time.Minute
	quietMaxPerUser = time.Millisecond
)

// heapInto reads the manager's heap after a forced garbage collection.
func (b *bench) heapInto(ctx context.Context, into *heapSample) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.pprofAddr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reading the manager's heap profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reading the manager's heap profile: %s", resp.Status)
	}
	*into, err = parseMemStats(resp.Body)
	return err
}

// saveHeapProfile writes the manager's heap profile (after a forced collection) into the bench's
// folder, for `go tool pprof -sample_index=inuse_space -top <file>` (with -keep).
func (b *bench) saveHeapProfile(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.pprofAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("saving the manager's heap profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(filepath.Join(b.dir, name)) //nolint:gosec // the bench's own folder and a fixed name
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	say("  heap profile saved: %s", filepath.Join(b.dir, name))
	return f.Close()
}

// parseMemStats reads the "# HeapAlloc = 123" lines that end a debug=1 heap profile.
func parseMemStats(r io.Reader) (heapSample, error) {
	var h heapSample
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		switch name {
		case "HeapAlloc":
			found++
			h.heapAlloc, _ = strconv.ParseUint(value, 10, 64)
		case "HeapObjects":
			h.heapObjects, _ = strconv.ParseUint(value, 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return h, err
	}
	if found == 0 {
		return h, fmt.Errorf("the heap profile has no HeapAlloc line")
	}
	return h, nil
}

// waitQuiet returns once the audit log shows no write by the manager for quietFor (it reads the
// log file, not the API server), or after quietMax.
func (b *bench) waitQuiet(ctx context.Context) error {
	start := time.Now()
	for {
		if err := b.audit.sync(); err != nil {
			return err
		}
		last := b.audit.lastManagerWrite()
		if since := time.Since(last); since >= quietFor && time.Since(start) >= quietFor {
			return nil
		}
		if limit := scaled(quietMax, quietMaxPerUser, b.cfg.n); time.Since(start) > limit {
			say("  the manager still writes after %s; going on", limit)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// runUnrelatedSecrets creates Secrets without the operator's labels in the watched namespace: the
// manager caches only labelled Secrets, so its heap should not grow with them.
func (b *bench) runUnrelatedSecrets(ctx context.Context, rep *report) error {
	res := &secretsResult{count: unrelatedSecrets}
	if err := b.heapInto(ctx, &res.heap.before); err != nil {
		return err
	}
	say("  creating %d Secrets of %d bytes without the operator's labels in %s", res.count, unrelatedSecretSize, operatorNamespace)
	start := time.Now()
	data := make([]byte, unrelatedSecretSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	err := parallel(ctx, res.count, b.cfg.workers, func(ctx context.Context, i int) error {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("unrelated-%d", i+1),
				Labels: map[string]string{"app": "something-else"}},
			Data: map[string][]byte{"blob": data},
		}
		return b.cl.Create(ctx, s)
	})
	if err != nil {
		return fmt.Errorf("creating unrelated Secrets: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(unrelatedSettle):
	}
	calls, err := b.audit.manager(start, time.Now())
	if err != nil {
		return err
	}
	res.requests = len(calls)
	if err := b.heapInto(ctx, &res.heap.after); err != nil {
		return err
	}
	rep.secrets = res
	return nil
}
