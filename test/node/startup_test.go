package node

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// apiServerDown is how long the API server stays down while a manager container restarts
// (NODE_APISERVER_DOWN_SECONDS overrides it, e.g. 330 to outlast kubelet's longest crash-loop backoff).
func apiServerDown(t *testing.T) time.Duration {
	if s := os.Getenv("NODE_APISERVER_DOWN_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NODE_APISERVER_DOWN_SECONDS=%q: want a whole number of seconds, at least 1", s)
		}
		return time.Duration(n) * time.Second
	}
	return 20 * time.Second
}

// TestManagerStartsWhileTheAPIServerIsDown stops the API server, kills a manager container, and
// starts the API server again after a while: the restarted manager waits for it instead of
// crash-looping (its restart count rises by one, for the kill), and serves /readyz 200 within
// seconds of the API server's return. The leader may lose its Lease meanwhile and exit (as
// controller-runtime does); that is counted, and every Pod must be Ready again within a minute.
func TestManagerStartsWhileTheAPIServerIsDown(t *testing.T) {
	c := node(t)
	c.Install(t)
	down := apiServerDown(t)
	victim := nonLeader(t, c)
	before := map[string]int32{}
	for _, p := range c.ManagerPods(t) {
		before[p.Name] = managerContainer(t, p).RestartCount
	}

	// Poll the victim's /readyz from the host (the Pod keeps its IP) every 200 ms: when it first
	// answers 200 after the API server's return.
	var mu sync.Mutex
	var kubernetes corev1.Service
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &kubernetes); err != nil {
		t.Fatal(err)
	}
	apiSvc := "https://" + kubernetes.Spec.ClusterIP + ":443/readyz"
	insecure := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // only whether it answers
	var back, readyAt, svcAt time.Time
	var killed, sawWaiting bool
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			status, _ := readyz(victim.Status.PodIP)
			svcUp := false
			if resp, err := insecure.Get(apiSvc); err == nil {
				_ = resp.Body.Close()
				svcUp = resp.StatusCode == http.StatusOK
			}
			mu.Lock()
			if svcUp && killed && svcAt.IsZero() {
				svcAt = time.Now()
			}
			if status == http.StatusServiceUnavailable {
				sawWaiting = true
			}
			// No 200 is possible while the API server is down: the first one after the kill is the
			// restarted manager's.
			if status == http.StatusOK && killed && readyAt.IsZero() {
				readyAt = time.Now()
			}
			mu.Unlock()
		}
	}()
	defer func() { close(stop); <-polled }()

	stopping := time.Now()
	c.StopAPIServer(t)
	t.Logf("API server stopped in %s", time.Since(stopping).Round(time.Millisecond))
	c.KillContainer(t, managerContainer(t, victim).ContainerID)
	time.Sleep(500 * time.Millisecond) // a poll in flight may still reach the old process
	mu.Lock()
	killed = true
	mu.Unlock()
	t.Logf("API server stopped, manager container of %s killed; starting the API server again in %s", victim.Name, down)
	time.Sleep(down)
	starting := time.Now()
	up := c.StartAPIServer(t)
	t.Logf("API server ready %s after its start, controller-manager and scheduler restarted %s after that",
		up.Sub(starting).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	mu.Lock()
	back = up
	mu.Unlock()
	// Pods reach the API server only through its Service: how soon kube-proxy routes it again is the
	// node's, not the manager's (8-19 s in most runs, over a minute in one CI run), so the manager's
	// minute counts from there.
	waitFor(t, 3*time.Minute, "the API server to answer through its Service (kube-proxy)", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !svcAt.IsZero()
	})
	waitFor(t, time.Minute, "the restarted manager's /readyz to answer 200", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !readyAt.IsZero()
	})
	mu.Lock()
	t.Logf("API-server-back-to-Ready: the restarted manager's /readyz answered 200 %s after the API server was ready",
		readyAt.Sub(back).Round(time.Millisecond))
	if !svcAt.IsZero() { // Pods reach the API server through its Service: kube-proxy must see its endpoint again
		t.Logf("the API server answered through its Service (%s, kube-proxy) %s after it was ready; the manager's /readyz 200 came %s after that",
			kubernetes.Spec.ClusterIP, svcAt.Sub(back).Round(time.Millisecond), readyAt.Sub(svcAt).Round(time.Millisecond))
	}
	for _, p := range c.ManagerPods(t) {
		if p.Name == victim.Name {
			logs := c.run(t, nil, c.Kubectl, "-n", namespace, "logs", p.Name)
			lines := grepLines(logs, "start")
			if lines == "" {
				lines = logs[:min(len(logs), 1500)]
			}
			t.Logf("the restarted manager's start (%d bytes of log):\n%s", len(logs), lines)
		}
	}
	if !sawWaiting {
		t.Errorf("the restarted manager never answered /readyz 503 while the API server was down")
	}
	mu.Unlock()

	waitFor(t, 90*time.Second, "every manager Pod Ready", func() bool {
		pods := c.ManagerPods(t)
		for _, p := range pods {
			if !podReady(p) {
				return false
			}
		}
		return len(pods) == 2
	})
	t.Logf("every manager Pod Ready %s after the API server was ready", time.Since(back).Round(time.Millisecond))
	for _, p := range c.ManagerPods(t) {
		s := managerContainer(t, p)
		if w := s.LastTerminationState.Terminated; w != nil {
			t.Logf("%s: last termination %s (exit %d)", p.Name, w.Reason, w.ExitCode)
		}
		restarts := s.RestartCount - before[p.Name]
		switch {
		case p.Name == victim.Name && restarts != 1:
			t.Errorf("the killed manager restarted %d times, want 1 (the kill): it crashed while waiting\n%s", restarts, c.Diagnose())
		case p.Name != victim.Name:
			t.Logf("the other manager (%s) restarted %d times (the leader exits when it cannot renew its Lease)", p.Name, restarts)
		}
	}
	if crashLooped(t, c) {
		t.Errorf("a manager container was in CrashLoopBackOff\n%s", c.Diagnose())
	}
	c.NoForbidden(t)
}

// podReady reports the Pod's Ready condition.
func podReady(p corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// crashLooped reports whether the kubelet put a manager container into crash-loop backoff: a
// BackOff event ("Back-off restarting failed container") on a manager Pod.
func crashLooped(t *testing.T, c *Cluster) bool {
	t.Helper()
	var events corev1.EventList
	if err := c.Client.List(context.Background(), &events, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == "BackOff" {
			t.Logf("event on %s: %s %s", e.InvolvedObject.Name, e.Reason, e.Message)
			return true
		}
	}
	for _, p := range c.ManagerPods(t) {
		if w := managerContainer(t, p).State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}
