package node

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// leaseDuration is controller-runtime's default lease, which the manager keeps (internal/setup sets
// no LeaseDuration, RenewDeadline or RetryPeriod): a leader that dies without releasing the Lease is
// replaced once it has not renewed for this long, by a replica that retries every 2 s.
const leaseDuration = 15 * time.Second

// TestLeaderFailover runs the install as shipped and fails its leader over twice, each time just
// before rotations fall due (a minute apart): the leader Pod deleted (it releases the Lease on
// the way out), then the new leader's container SIGKILLed through containerd (it cannot release
// it: the Lease must run out). Each time another manager takes the Lease, the rotations that fell due meanwhile happen
// exactly once (one new passcode in each Secret, one revision step), and POST /v1/verify through
// the access Service's ClusterIP answers correctly throughout, every ~50 ms.
//
// NODE_FAILOVER_PASSCODES (default 4) sets how many Passcodes fall due in each failover.
func TestLeaderFailover(t *testing.T) {
	c := node(t)
	e2eImage(t, c)
	mail := c.SMTP(t)
	install(t, c, WithSMTP(c.Render(t, img), mail.Addr))
	const ns = "failover"
	testNamespace(t, c, ns)
	n := envInt(t, "NODE_FAILOVER_PASSCODES", 4)
	users := []string{"ada", "bo"}
	emails := createUsers(t, c, ns, users...)

	// A rotation every minute (renewBefore's minimum) with a 2m tenure: no failover can reach the
	// expiry; the grace period keeps the replaced passcode valid while caches learn the new one. The
	// Pod is deleted before the first rotation, the container killed before the second.
	names := createPasscodes(t, c, ns, "key", n, users, "2m", "1m", "1m")
	waitIssued(t, c, ns, names)
	ch := watchChanges(t, c, ns)
	v, stop := startVerifier(t, c, ns, emails)
	waitFor(t, 30*time.Second, "the verifier to ask with every passcode", func() bool { return v.asking(names) })

	t.Run("leader Pod deleted", func(t *testing.T) {
		// Deleted so that the rotations fall due 1 s after its SIGTERM, which comes after the preStop
		// sleep: during the handover (it releases the Lease on the way out).
		failover(t, c, ch, v, ns, names, func(p corev1.Pod) time.Duration { return preStop(p) + time.Second }, func(p corev1.Pod) {
			if err := c.Client.Delete(context.Background(), &p); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("leader container killed", func(t *testing.T) {
		// Killed 8 s before: the rotations fall due while the dead leader still holds the Lease.
		failover(t, c, ch, v, ns, names, func(corev1.Pod) time.Duration { return 8 * time.Second }, func(p corev1.Pod) {
			// Until the kubelet reports the container dead and kube-proxy drops its endpoint, new
			// connections to it are refused: nothing in the Pod can answer them (a gateway retries).
			// Refusals are tolerated for 15 s; a wrong answer never.
			v.tolerate(time.Now(), 15*time.Second, "the killed container's endpoint")
			for _, s := range p.Status.ContainerStatuses {
				if s.Name == "manager" {
					c.KillContainer(t, s.ContainerID)
					return
				}
			}
			t.Fatalf("Pod %s has no manager container status", p.Name)
		})
	})
	stop()
	v.report(t, "during both failovers")
	if logs := c.ManagerLogs(t); strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Errorf("the manager logged forbidden:\n%s", grepLines(logs, "forbidden"))
	}
}

// failover waits until both managers are Ready and one leads, then, lead(leader's Pod) before the
// first of the named Passcodes falls due for rotation, does act to the leader's Pod. Another holder
// must take the Lease, and every named Passcode must be rotated exactly once.
func failover(t *testing.T, c *Cluster, ch *changes, v *verifier, ns string, names []string, lead func(corev1.Pod) time.Duration, act func(corev1.Pod)) {
	from := time.Now()
	waitFor(t, 2*time.Minute, "2 Ready managers and a leader", func() bool {
		return readyManagers(t, c) == 2 && leaseHolder(c) != ""
	})
	t.Logf("2 managers Ready and one leading after %s", time.Since(from).Round(time.Millisecond))
	group := waitIssued(t, c, ns, names)
	due := earliest(group, func(i issued) time.Time { return i.RenewalTime })
	pod := leaderPod(t, c)
	if time.Until(due) < lead(pod) {
		t.Fatalf("the first rotation falls due at %s, less than %s from now: the managers took too long to be Ready", due.Format(time.RFC3339), lead(pod))
	}
	time.Sleep(time.Until(due.Add(-lead(pod))))
	holder := leaseHolder(c)
	pod = leaderPod(t, c)
	leader := pod.Name
	start := time.Now()
	act(pod)
	newHolder, at, err := waitNewHolder(c, holder, 2*time.Minute)
	if err != nil {
		t.Fatalf("no other manager took the Lease from %s within 2 minutes\n%s", holder, c.Diagnose())
	}
	takeover := at.Sub(start)
	who := "the other replica"
	if p, _, _ := strings.Cut(newHolder, "_"); p == leader {
		who = "the restarted container of the same Pod"
	}
	t.Logf("the Lease went from %s to %s (%s) %s after the act (lease duration %s)", leader, newHolder, who,
		takeover.Round(time.Millisecond), leaseDuration)
	// Generous: a replica retries every 2 s (jittered), and the node is shared.
	if limit := leaseDuration + 30*time.Second; takeover > limit {
		t.Errorf("the takeover took %s, more than %s", takeover.Round(time.Millisecond), limit)
	}

	before := map[string]int64{}
	for name, i := range group {
		before[name] = i.Revision
	}
	var now map[string]issued
	waitFor(t, 90*time.Second, "every passcode due to be rotated", func() bool {
		var err error
		if now, err = snapshot(c, ns); err != nil {
			return false
		}
		for name, rev := range before {
			if now[name].Revision <= rev {
				return false
			}
		}
		return true
	})
	t.Logf("%d passcodes rotated %s after the act (the first fell due %s after it)", len(group),
		time.Since(start).Round(time.Millisecond), due.Sub(start).Round(time.Millisecond))
	// A second rotation by a manager that thought it still led would come at once: watch for 5 s more.
	time.Sleep(5 * time.Second)
	end := time.Now()
	for name, rev := range before {
		codes, revs := ch.between(name, name, from, end)
		if codes != 1 || revs != 1 || now[name].Revision != rev+1 {
			t.Errorf("Passcode %s: want one rotation, got %d new passcodes in its Secret and %d revision changes (revision %d -> %d)",
				name, codes, revs, rev, now[name].Revision)
		}
	}
	waitFor(t, 15*time.Second, "the verifier to ask with every rotated passcode", func() bool { return v.askingAbove(before) })
	asked, wrong, failed := v.counts()
	t.Logf("verify through the ClusterIP so far: %d asked, %d answered wrongly, %d not answered", asked, wrong, failed)
}

// leaderPod is the manager Pod holding the Lease.
func leaderPod(t *testing.T, c *Cluster) corev1.Pod {
	t.Helper()
	leader, _, _ := strings.Cut(leaseHolder(c), "_")
	for _, p := range c.ManagerPods(t) {
		if p.Name == leader {
			return p
		}
	}
	t.Fatalf("the Lease holder %q is no manager Pod\n%s", leader, c.Diagnose())
	return corev1.Pod{}
}

// preStop is how long the manager container's preStop hook sleeps before it gets SIGTERM.
func preStop(p corev1.Pod) time.Duration {
	for _, ct := range p.Spec.Containers {
		if ct.Name == "manager" && ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.Sleep != nil {
			return time.Duration(ct.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	return 0
}

// earliest is the earliest of field over group.
func earliest(group map[string]issued, field func(issued) time.Time) time.Time {
	var first time.Time
	for _, i := range group {
		if f := field(i); first.IsZero() || f.Before(first) {
			first = f
		}
	}
	return first
}

// envInt is the positive integer in the environment variable name, or def when it is unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
