// Package cluster runs the real one-node cluster of hack/cluster (containerd, kubelet, kube-proxy on
// this host) with the node's tests (hack/cluster/e2e.sh: the smoke check, then test/node) and checks
// that it leaves the host as it found it. It needs root and changes the host while it runs, so it
// only runs with CLUSTER_E2E=1, which `make test-cluster` (part of `make test`) sets:
//
//	CLUSTER_E2E=1 go test ./test/cluster -count=1 -v
package cluster

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// hostState is what the node changes while it runs and must put back: the nftables ruleset (iptables
// is iptables-nft here), the sysctls the kubelet, CNI and kube-proxy write, links, netns, mounts,
// host paths and cgroups.
func hostState(t *testing.T) map[string]string {
	t.Helper()
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, "/.cluster/") {
			ours = append(ours, l)
		}
	}
	// Paths the runtime and the kubelet create whatever their config says, and the kubelet's cgroups.
	var paths []string
	for _, p := range []string{"/var/log/pods", "/var/log/containers", "/run/containerd", "/var/lib/cni",
		"/var/lib/kubelet", "/run/netns", "/opt/containerd"} {
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	cgroups, err := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"processes":   strings.Join(clusterProcesses(t), "\n"),
		"host paths":  strings.Join(paths, "\n"),
		"cgroups":     strings.Join(cgroups, "\n"),
		"nft ruleset": run("nft", "list", "ruleset"),
		"sysctls": run("sysctl", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet",
			"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
			"net.netfilter.nf_conntrack_max"),
		"links":  run("ip", "-o", "link", "show"),
		"netns":  run("ip", "netns", "list"),
		"mounts": strings.Join(ours, "\n"),
	}
}

// clusterProcesses are the processes the node runs: its daemons and shims (their command lines name
// the state dir) and what runs in its containers (the manager and pause images' entrypoints).
func clusterProcesses(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if strings.Contains(string(b), "/.cluster/") || argv[0] == "/manager" || argv[0] == "/pause" {
			found = append(found, strings.Join(argv, " "))
		}
	}
	return found
}

func TestLocalNodeRunsTheInstallAndRestoresTheHost(t *testing.T) {
	if os.Getenv("CLUSTER_E2E") != "1" {
		t.Skip("set CLUSTER_E2E=1 to run the real node (root; changes the host while it runs)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("CLUSTER_E2E=1 needs root")
	}
	r := root(t)
	// The host-wide lock first (cluster.sh's): "before" must not be another run's cluster.
	lock, err := os.OpenFile("/run/lock/access-operator-cluster.lock", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Log("another local cluster runs on this host: waiting for it to stop")
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	before := hostState(t)
	cmd := exec.Command(filepath.Join(r, "hack/cluster/cluster.sh"), filepath.Join(r, "hack/cluster/e2e.sh"))
	cmd.Dir = r
	cmd.Env = append(os.Environ(), "CLUSTER_LOCK_HELD=1")
	// Streamed: the node tests take minutes, and their progress is the log to read when one fails.
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = cmd.Stdout
	err = cmd.Run()
	out := buf.Bytes()
	if err != nil {
		t.Errorf("cluster.sh e2e.sh: %v (the host is checked all the same)", err)
	}
	for _, want := range []string{"[smoke] pod IP answers: smoke", "[smoke] ClusterIP ", "[smoke] ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	after := hostState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s not restored:\nbefore:\n%s\nafter:\n%s", k, v, after[k])
		}
	}
}
