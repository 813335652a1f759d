// Package memory runs the manager binary inside a cgroup v1 memory group with a limit, against a
// real API server holding enough users that the Go runtime's default heap target (twice the live
// heap) does not fit while the live heap does: with the soft limit the manager derives from its
// cgroup (internal/memlimit) it must survive and keep answering /v1/verify.
//
// It needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory; without them it skips.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s/1.37.2 go test ./test/memory -count=1 -v
//	MEMORY_TEST_USERS=5000 ...   # more users (default 2000)
package memory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

const (
	memoryRoot = "/sys/fs/cgroup/memory"
	namespace  = "memory"
	// verifySample is how many users' passcodes are checked through /v1/verify in each run.
	verifySample = 50
)

func users() int {
	if n, err := strconv.Atoi(os.Getenv("MEMORY_TEST_USERS")); err == nil && n > 0 {
		return n
	}
	return 2000
}

func TestManagerRespectsItsCgroupMemoryLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a cgroup")
	}
	if _, err := os.Stat(filepath.Join(memoryRoot, "memory.limit_in_bytes")); err != nil {
		t.Skipf("needs a cgroup v1 memory hierarchy at %s: %v", memoryRoot, err)
	}
	dir := t.TempDir()
	bin, err := testenv.BuildManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := testenv.StartControlPlane(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	ctx := context.Background()
	cfg := *cp.Config
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: creating the users is set-up, not the test
	cl, err := client.New(&cfg, client.Options{Scheme: cp.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	n := users()
	start := time.Now()
	if err := createUsers(ctx, cl, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d DashboardUsers and Passcodes in %s", n, time.Since(start).Round(time.Millisecond))

	// 1. No limit: the manager issues every passcode; its live heap and peak RSS on a restart
	// (caches filled from the API server, nothing to write) are measured to choose the limit.
	free := startManager(t, dir, bin, "unlimited", "", "")
	start = time.Now()
	if err := waitActive(ctx, cl, n, 3*time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, free.Tail(30))
	}
	t.Logf("unlimited: every Passcode Active %s after start", time.Since(start).Round(time.Millisecond))
	codes, err := passcodes(ctx, cl, verifySample)
	if err != nil {
		t.Fatal(err)
	}
	stopManager(t, free)

	// The restart again, in a memory group without a limit: what the kernel charges it (the
	// group's peak) is what a limit is compared with (RSS also counts the binary's shared pages).
	cgBase := newCgroup(t, "access-operator-memtest-base", 0)
	restart := startManager(t, dir, bin, "unlimited-restart", cgBase, "")
	settle(t, restart, codes)
	base := sample(t, restart, cgBase)
	stopManager(t, restart)
	t.Logf("unlimited restart: %s", base)

	// The limit: above what the live data needs (the group's peak less the heap the collector
	// freed) and below the peak the default heap target let the group reach.
	// MEMORY_TEST_LIMIT_MIB overrides it.
	limit := chooseLimit(base)
	if v, err := strconv.Atoi(os.Getenv("MEMORY_TEST_LIMIT_MIB")); err == nil && v > 0 {
		limit = int64(v) << 20
	}
	t.Logf("cgroup limit: %.1f MiB (live heap %.1f MiB, the group's peak without a limit %.1f MiB)",
		mib(limit), mib(base.heapAlloc), mib(base.cgMax))

	// 2. Under the limit with the soft limit derived from the cgroup.
	cgA := newCgroup(t, "access-operator-memtest-on", limit)
	on := startManager(t, dir, bin, "limited", cgA, "")
	if !strings.Contains(on.Output(), cgA+"/memory.limit_in_bytes") {
		t.Errorf("the manager did not log the soft limit taken from %s:\n%s", cgA, on.Tail(20))
	}
	answered := settle(t, on, codes)
	onFig := sample(t, on, cgA)
	t.Logf("with the cgroup-derived soft limit: %s; %d/%d verifies answered valid", onFig, answered, len(codes))
	if !on.Running() {
		t.Errorf("the manager with the soft limit died: %v\n%s", on.ExitErr(), on.Tail(20))
	}
	if onFig.oomKills != 0 {
		t.Errorf("the manager with the soft limit was OOM-killed %d times in its cgroup", onFig.oomKills)
	}
	if answered != len(codes) {
		t.Errorf("the manager with the soft limit answered %d of %d valid passcodes as valid", answered, len(codes))
	}
	stopManager(t, on)

	// 3. The same without the feature (GOMEMLIMIT=off): figures side by side; the kernel's answer
	// (OOM kill, or reclaim at the limit) depends on when the collector runs, so it is printed.
	cgB := newCgroup(t, "access-operator-memtest-off", limit)
	off := startManager(t, dir, bin, "unbounded", cgB, "off")
	offAnswered := settle(t, off, codes)
	offFig := sample(t, off, cgB)
	t.Logf("without it (GOMEMLIMIT=off): %s; %d/%d verifies answered valid; running=%v exit=%v",
		offFig, offAnswered, len(codes), off.Running(), off.ExitErr())
	stopManager(t, off)
}

// createUsers creates n DashboardUsers with a Manual Passcode each, 32 at a time.
func createUsers(ctx context.Context, cl client.Client, n int) error {
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name := fmt.Sprintf("user-%d", i)
				du := &accessv1alpha1.DashboardUser{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
					Spec:       accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember},
				}
				pc := &accessv1alpha1.Passcode{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-api"},
					Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: name}, Tenure: "30d",
						Rotation: &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationManual}},
				}
				for _, o := range []client.Object{du, pc} {
					if err := cl.Create(ctx, o); err != nil {
						select {
						case errs <- fmt.Errorf("creating %s: %w", o.GetName(), err):
						default:
						}
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// waitActive polls until n Passcodes are Active.
func waitActive(ctx context.Context, cl client.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list accessv1alpha1.PasscodeList
		if err := cl.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		active := 0
		for i := range list.Items {
			if list.Items[i].Status.Phase == accessv1alpha1.PasscodeActive {
				active++
			}
		}
		if active >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d Passcodes Active after %s", active, n, timeout)
		}
		time.Sleep(time.Second)
	}
}

// passcodes reads k users' passcodes from their Secrets, spread over all users. They stay in
// memory: never printed.
func passcodes(ctx context.Context, cl client.Client, k int) ([]string, error) {
	n := users()
	var codes []string
	for i := 0; i < k; i++ {
		s := &corev1.Secret{}
		name := fmt.Sprintf("user-%d-api", i*n/k)
		if err := cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", name, err)
		}
		codes = append(codes, string(s.Data[passcodesecret.KeyPasscode]))
	}
	return codes, nil
}

// newCgroup creates a v1 memory group with the limit (no swap: the machine has none, and
// memsw is set too where it exists) and removes it when the test ends.
func newCgroup(t *testing.T, name string, limit int64) string {
	t.Helper()
	cg := filepath.Join(memoryRoot, fmt.Sprintf("%s-%d", name, os.Getpid())) // two runs at once do not share
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Its process was stopped already; a kill makes sure, then the empty group can go.
		for _, pid := range strings.Fields(readFile(filepath.Join(cg, "cgroup.procs"))) {
			if p, err := strconv.Atoi(pid); err == nil {
				if proc, err := os.FindProcess(p); err == nil {
					_ = proc.Kill()
				}
			}
		}
		for range 50 {
			if os.Remove(cg) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cannot remove cgroup %s", cg)
	})
	if limit == 0 {
		return cg // no limit: the group only counts
	}
	if err := os.WriteFile(filepath.Join(cg, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(cg, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o600)
	return cg
}

// startManager starts the manager through a shell wrapper that first joins cgroup cg (when set),
// so that the manager reads its limit from its first instruction, and sets GOMEMLIMIT to gomemlimit
// (unset when empty). It waits until the manager is ready.
func startManager(t *testing.T, dir, bin, name, cg, gomemlimit string) *testenv.ManagerProcess {
	t.Helper()
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	if cg != "" {
		fmt.Fprintf(&script, "echo $$ > %s/cgroup.procs || exit 97\n", cg)
	}
	if gomemlimit == "" {
		script.WriteString("unset GOMEMLIMIT\n")
	} else {
		fmt.Fprintf(&script, "export GOMEMLIMIT=%s\n", gomemlimit)
	}
	fmt.Fprintf(&script, "exec %s \"$@\"\n", bin)
	wrapper := filepath.Join(dir, "run-"+name)
	if err := os.WriteFile(wrapper, []byte(script.String()), 0o700); err != nil { //nolint:gosec // an executable of the test's own
		t.Fatal(err)
	}
	pprof, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	m, err := testenv.NewManagerProcess(name, wrapper, filepath.Join(dir, "kubeconfig"), filepath.Join(dir, name+".log"),
		"--pprof-bind-address="+pprof, "--leader-elect=false")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddrs.Store(m, pprof)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Kill() })
	if err := m.WaitReady(2 * time.Minute); err != nil {
		t.Logf("%s: %v\n%s", name, err, m.Tail(20))
	}
	return m
}

var pprofAddrs sync.Map // *ManagerProcess -> its pprof address

func stopManager(t *testing.T, m *testenv.ManagerProcess) {
	t.Helper()
	if err := m.Terminate(30 * time.Second); err != nil {
		t.Logf("%s: %v", m.Name, err)
	}
}

// settle lets the manager finish its start-up work (every object reconciled once) and then checks
// the sample of passcodes through /v1/verify; it returns how many answered valid.
func settle(t *testing.T, m *testenv.ManagerProcess, codes []string) int {
	t.Helper()
	time.Sleep(5 * time.Second)
	hc := http.Client{Timeout: 5 * time.Second}
	valid := 0
	for _, c := range codes {
		body, _ := json.Marshal(map[string]string{"account": namespace, "passcode": c}) // strings always marshal
		resp, err := hc.Post(m.AccessURL()+"/v1/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		var v struct {
			Valid bool `json:"valid"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK && v.Valid {
			valid++
		}
	}
	return valid
}

// figures are one process's memory figures.
type figures struct {
	rss, hwm                     int64 // VmRSS, VmHWM (peak) of the manager
	heapAlloc, heapSys, numGC    int64 // after a forced GC, from its heap profile
	cgMax, cgFailcnt, oomKills   int64 // its cgroup's peak usage, limit hits and OOM kills
	inCgroup, running, profileOK bool
}

func (f figures) String() string {
	s := fmt.Sprintf("RSS %.1f MiB, peak RSS %.1f MiB, heap after GC %.1f MiB (sys %.1f), GC cycles %d",
		mib(f.rss), mib(f.hwm), mib(f.heapAlloc), mib(f.heapSys), f.numGC)
	if f.inCgroup {
		s += fmt.Sprintf("; cgroup peak %.1f MiB, failcnt %d, oom_kill %d", mib(f.cgMax), f.cgFailcnt, f.oomKills)
	}
	return s
}

// sample reads the figures of m (pid from its cgroup or its pprof listener) and of cgroup cg.
// The heap figures are read before RSS is, and the forced GC runs after the peak was recorded.
func sample(t *testing.T, m *testenv.ManagerProcess, cg string) figures {
	t.Helper()
	var f figures
	if pid := pidOf(m, cg); pid != "" {
		status := readFile("/proc/" + pid + "/status")
		f.rss, f.hwm = statusKiB(status, "VmRSS:")<<10, statusKiB(status, "VmHWM:")<<10
	}
	if cg != "" {
		f.inCgroup = true
		f.cgMax = readInt(filepath.Join(cg, "memory.max_usage_in_bytes"))
		f.cgFailcnt = readInt(filepath.Join(cg, "memory.failcnt"))
		f.oomKills = statusKiB(readFile(filepath.Join(cg, "memory.oom_control")), "oom_kill ")
	}
	addr, _ := pprofAddrs.Load(m)
	if s, ok := addr.(string); ok {
		resp, err := http.Get("http://" + s + "/debug/pprof/heap?gc=1&debug=1")
		if err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
				if !ok {
					continue
				}
				v, _ := strconv.ParseInt(value, 10, 64)
				switch name {
				case "HeapAlloc":
					f.heapAlloc, f.profileOK = v, true
				case "HeapSys":
					f.heapSys = v
				case "NumGC":
					f.numGC = v
				}
			}
			_ = resp.Body.Close()
		}
	}
	f.running = m.Running()
	return f
}

// pidOf finds the manager's pid: the one process in its cgroup, or the one listening on its
// access address (from `ss`, absent here), else from /proc by its command line.
func pidOf(m *testenv.ManagerProcess, cg string) string {
	if cg != "" {
		if fields := strings.Fields(readFile(filepath.Join(cg, "cgroup.procs"))); len(fields) > 0 {
			return fields[0]
		}
		return ""
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmd := readFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(cmd, "--access-bind-address="+m.AccessAddr) {
			return e.Name()
		}
	}
	return ""
}

// chooseLimit picks a cgroup limit the live data fits in but the unbounded heap target does not:
// halfway between what the process needs after a GC (the group's peak less the heap the GC freed,
// and at least the live heap plus 24 MiB for the runtime, stacks and the binary's pages) and the
// peak the group reached without a limit.
func chooseLimit(base figures) int64 {
	needed := max(base.cgMax-(base.heapSys-base.heapAlloc), base.heapAlloc+24<<20)
	return ((needed + base.cgMax) / 2) &^ (1<<20 - 1)
}

func statusKiB(status, key string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest + " 0")[0], 10, 64)
			return v
		}
	}
	return 0
}

func readFile(p string) string {
	b, _ := os.ReadFile(p) //nolint:gosec // /proc and cgroup files
	return string(b)
}

func readInt(p string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(readFile(p)), 10, 64)
	return v
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
