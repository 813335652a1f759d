package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// TestReadinessGatesTheService cuts one replica off the API server (an nftables rule dropping its
// Pod IP's traffic to the API server) and kills its container: the restarted process waits for the
// API server (/readyz 503 with the reason), the EndpointSlice lists it not ready, and verify through
// the ClusterIP and through nginx answers every request (the Service sends nothing to it). Then the
// block is lifted and the time until the replica is Ready again is printed.
func TestReadinessGatesTheService(t *testing.T) {
	c := node(t)
	c.Install(t)
	ctx := context.Background()
	const ns = "team-ready"
	c.Namespace(t, ns, nil)
	code := grant(t, c, ns, "rd", "rd@example.com", accessv1alpha1.RoleMember)
	base := c.AccessURL(t)
	hc := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 30*time.Second, "verify through the ClusterIP", func() bool {
		status, _, err := Verify(ctx, hc, base, ns, code)
		return err == nil && status == http.StatusOK
	})
	gw := StartGateway(t, base)

	victim := nonLeader(t, c)
	unblock := c.BlockAPIServer(t, victim.Status.PodIP)
	c.KillContainer(t, managerContainer(t, victim).ContainerID)
	killed := time.Now()
	waitFor(t, 30*time.Second, "the EndpointSlice to list the killed replica not ready", func() bool {
		ready, listed := endpointReady(t, c, victim.Status.PodIP)
		return listed && !ready
	})
	t.Logf("killed replica listed not ready %s after the kill", time.Since(killed).Round(time.Millisecond))
	var body string
	waitFor(t, 30*time.Second, "the restarted replica's /readyz to say why it is not ready", func() bool {
		var status int
		status, body = readyz(victim.Status.PodIP)
		return status == http.StatusServiceUnavailable && strings.Contains(body, "waiting for the API server")
	})
	t.Logf("/readyz of the cut-off replica: %s", strings.TrimSpace(body))

	// Hammer verify through the ClusterIP and through nginx while the replica is not ready.
	var requests, failures atomic.Int64
	var firstFailure atomic.Value
	hammer := func(name string, ask func() (int, error)) func() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					status, err := ask()
					requests.Add(1)
					if err != nil || status != http.StatusOK {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("%s: %d %v", name, status, err))
					}
				}
			}()
		}
		return func() { close(stop); wg.Wait() }
	}
	stopCluster := hammer("ClusterIP", func() (int, error) {
		status, _, err := Verify(ctx, hc, base, ns, code)
		return status, err
	})
	stopGateway := hammer("nginx", func() (int, error) {
		status, _, err := gw.Get(ctx, hc, ns, code)
		return status, err
	})
	waitFor(t, time.Minute, "the kubelet's readiness probe failure event", func() bool {
		return probeFailed(t, c, victim.Name)
	})
	time.Sleep(3 * time.Second) // at least a few seconds of traffic while not ready
	if ready, _ := endpointReady(t, c, victim.Status.PodIP); ready {
		t.Errorf("the cut-off replica became ready while it cannot reach the API server")
	}
	stopCluster()
	stopGateway()
	t.Logf("%d verify requests (ClusterIP and nginx) while one replica was not ready, %d failed", requests.Load(), failures.Load())
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed while one replica was not ready; first: %v", failures.Load(), requests.Load(), firstFailure.Load())
	}

	unblock()
	lifted := time.Now()
	waitFor(t, 90*time.Second, "the replica's /readyz to answer 200", func() bool {
		status, _ := readyz(victim.Status.PodIP)
		return status == http.StatusOK
	})
	t.Logf("block lifted: /readyz 200 after %s", time.Since(lifted).Round(time.Millisecond))
	waitFor(t, 90*time.Second, "the replica to be Ready in the EndpointSlice", func() bool {
		ready, _ := endpointReady(t, c, victim.Status.PodIP)
		return ready
	})
	t.Logf("restart-to-Ready: ready in the EndpointSlice %s after the block was lifted, %s after the kill",
		time.Since(lifted).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	c.NoForbidden(t)
}

// nonLeader is a manager Pod that does not hold the leader election Lease.
func nonLeader(t *testing.T, c *Cluster) corev1.Pod {
	t.Helper()
	var leader string
	waitFor(t, time.Minute, "a leader", func() bool { leader = c.Leader(t); return leader != "" })
	for _, p := range c.ManagerPods(t) {
		if p.Name != leader {
			return p
		}
	}
	t.Fatalf("no manager Pod but the leader %s\n%s", leader, c.Diagnose())
	return corev1.Pod{}
}

// managerContainer is the status of the Pod's manager container.
func managerContainer(t *testing.T, p corev1.Pod) corev1.ContainerStatus {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == "manager" {
			return s
		}
	}
	t.Fatalf("Pod %s has no manager container status", p.Name)
	return corev1.ContainerStatus{}
}

// BlockAPIServer drops every packet from podIP to the API server (CLUSTER_HOST_IP:6443, where
// kube-proxy sends the kubernetes Service), with an nftables table of the test's own. The returned
// func lifts the block; the test's end does too.
func (c *Cluster) BlockAPIServer(t *testing.T, podIP string) func() {
	t.Helper()
	const table = "access_operator_node_test_block"
	rules := fmt.Sprintf(`table inet %s {
  chain input {
    type filter hook input priority -10; policy accept;
    ip saddr %s ip daddr %s tcp dport 6443 drop
  }
}
`, table, podIP, c.HostIP)
	c.run(t, []byte(rules), "nft", "-f", "-")
	var once sync.Once
	lift := func() {
		once.Do(func() {
			if out, err := c.try(nil, "nft", "delete", "table", "inet", table); err != nil {
				t.Errorf("removing the nft table %s: %v\n%s", table, err, out)
			}
		})
	}
	t.Cleanup(lift)
	return lift
}

// endpointReady reports whether the access Service's EndpointSlices list ip, and as ready.
func endpointReady(t *testing.T, c *Cluster, ip string) (ready, listed bool) {
	t.Helper()
	var slices discoveryv1.EndpointSliceList
	if err := c.Client.List(context.Background(), &slices, client.InNamespace(namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: accessSvc}); err != nil {
		t.Fatal(err)
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if a == ip {
					return e.Conditions.Ready != nil && *e.Conditions.Ready, true
				}
			}
		}
	}
	return false, false
}

// readyz is GET http://ip:8081/readyz from the host (the probes port): status and body; 0 when the
// connection fails.
func readyz(ip string) (int, string) {
	hc := &http.Client{Timeout: time.Second}
	resp, err := hc.Get("http://" + ip + ":8081/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// probeFailed reports whether the kubelet recorded a failed readiness probe of the Pod.
func probeFailed(t *testing.T, c *Cluster, pod string) bool {
	t.Helper()
	var events corev1.EventList
	if err := c.Client.List(context.Background(), &events, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Name == pod && e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Readiness probe failed") {
			t.Logf("event on %s: %s %s", pod, e.Reason, e.Message)
			return true
		}
	}
	return false
}
