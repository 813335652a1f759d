package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// This file sets up and tears down what every phase uses: the audited control plane, the manager
// process, the bench's own clients and its watch cache of the operator's namespace.

const (
	// operatorNamespace is the operator phase's namespace (the first of them with -namespaces > 1;
	// the others are bench-operator-2, ...), and the one the manager watches (--watch-namespaces)
	// when there is one.
	operatorNamespace = "bench-operator"
	// systemNamespace holds the leader election Lease.
	systemNamespace = "bench-system"
	// rawNamespace holds the raw client's objects: the manager never sees it.
	rawNamespace = "bench-raw"
	// rawSameNamespace holds the plain client's copy of the operator path's writes: unwatched too.
	rawSameNamespace = "bench-raw-same"
	// managerUser is the manager's identity in the audit log.
	managerUser = "access-operator-bench"
	// inviteBatchWindow replaces the default 10 s: 1000 invites at 50 per 10 s would take 200 s.
	inviteBatchWindow = "100ms"
	// managerReadyBase and managerReadyPerUser bound a manager start (caches synced, access server
	// listening): the caches grow with the users.
	managerReadyBase    = 2 * time.Minute
	managerReadyPerUser = 2 * time.Millisecond
	// managerStopTimeout bounds a graceful stop before the manager is killed.
	managerStopTimeout = 30 * time.Second
)

// bench is everything the phases share.
type bench struct {
	cfg config
	dir string
	cp  *testenv.AuditedControlPlane
	mgr *testenv.ManagerProcess
	// replica is the second manager replica of the restart phase, while it runs.
	replica *testenv.ManagerProcess
	// bin is the manager binary: the restart phase runs a second replica of it.
	bin   string
	audit *auditLog
	// cl is the bench's own client (an admin user, not the manager's), reading live from the API server.
	cl client.WithWatch
	// watch is the bench's informer cache of the operator's namespace: phases register handlers
	// on it to see objects change without polling.
	watch        cache.Cache
	stopWatch    context.CancelFunc
	pprofAddr    string
	managerExtra []string
	trivial      *trivialProcess
	trivialAddr  string
}

func newBench(ctx context.Context, c config) (*bench, error) {
	b := &bench{cfg: c}
	if err := b.setup(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.dir, err = os.MkdirTemp("", "bench-scale-"); err != nil {
		return err
	}
	// Build first: a tree that does not compile fails in seconds, before anything starts.
	say("building the manager from this tree")
	if b.bin, err = testenv.BuildManager(b.dir); err != nil {
		return err
	}
	say("starting etcd and kube-apiserver with an audit log (folder %s)", b.dir)
	b.cp, err = testenv.StartAuditedControlPlane(b.dir, testenv.AuditedControlPlaneConfig{Policy: auditPolicy, ManagerUser: managerUser})
	if err != nil {
		return err
	}
	b.audit = newAuditLog(b.cp.AuditLog)
	b.cl = b.cp.Client
	for _, ns := range append([]string{systemNamespace, rawNamespace, rawSameNamespace}, b.namespaces()...) {
		if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	if err := b.startWatch(ctx); err != nil {
		return err
	}
	return b.newManager()
}

// namespaceOf is the namespace of the operator phase's i-th object of K: round-robin.
func namespaceOf(i, k int) string {
	if i%k == 0 {
		return operatorNamespace
	}
	return fmt.Sprintf("%s-%d", operatorNamespace, i%k+1)
}

// namespaces are the operator phase's namespaces.
func (b *bench) namespaces() []string {
	out := make([]string, b.cfg.namespaces)
	for i := range out {
		out[i] = namespaceOf(i, b.cfg.namespaces)
	}
	return out
}

// watchesAll is whether the manager watches every namespace: with more than one operator
// namespace, as a cluster-wide install does (a list of 1000 namespaces would be 1000 informers
// per kind).
func (b *bench) watchesAll() bool { return b.cfg.namespaces > 1 }

// startAfterRaw starts the manager once the raw phase is over; when it watches every namespace,
// the raw phase's objects are deleted first, so that it never sees them.
func (b *bench) startAfterRaw(ctx context.Context, _ *report) error {
	if b.watchesAll() && !b.cfg.skip[phaseRaw] {
		say("deleting the raw phase's objects (the manager watches every namespace)")
		for _, ns := range []string{rawNamespace, rawSameNamespace} {
			for _, obj := range []client.Object{&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}, &corev1.Secret{}} {
				if err := b.cl.DeleteAllOf(ctx, obj, client.InNamespace(ns)); err != nil {
					return fmt.Errorf("deleting the raw phase's %T in %s: %w", obj, ns, err)
				}
			}
		}
	}
	say("starting the manager")
	if err := b.startManager(ctx); err != nil {
		return err
	}
	// /readyz does not wait for the Lease: the controllers start once it is held, and neither the
	// heap's "before" sample nor the operator phase's clock may start earlier.
	return b.waitForHolder(ctx, "", b.readyTimeout())
}

// newManager prepares the manager process with the bench's flags; testenv adds --kubeconfig, the
// access and probe addresses, --public-url, --dev and --metrics-bind-address=0.
func (b *bench) newManager() error {
	var err error
	if b.pprofAddr, err = testenv.FreeAddr(); err != nil {
		return err
	}
	b.managerExtra = b.replicaArgs(b.pprofAddr)
	b.mgr, err = testenv.NewManagerProcess("manager", b.bin, b.cp.Kubeconfig, filepath.Join(b.dir, "manager.log"), b.managerExtra...)
	return err
}

// replicaArgs are one replica's flags: leader election on, as shipped, so that a second replica
// (restart phase) waits as a non-leader while serving the access server.
func (b *bench) replicaArgs(pprofAddr string) []string {
	args := []string{
		"--notifier=log",
		"--leader-elect",
		"--leader-election-namespace=" + systemNamespace,
		"--invite-batch-window=" + inviteBatchWindow,
		"--pprof-bind-address=" + pprofAddr,
	}
	if !b.watchesAll() {
		args = append(args, "--watch-namespaces="+operatorNamespace)
	}
	return append(args, b.cfg.managerArgs...)
}

func (b *bench) readyTimeout() time.Duration {
	return scaled(managerReadyBase, managerReadyPerUser, b.cfg.n)
}

// managerArgs are the flags the manager runs with, for the report (none of them is a secret).
func (b *bench) managerArgs() []string {
	return append([]string{
		"--dev", "--metrics-bind-address=0",
		"--access-bind-address=" + b.mgr.AccessAddr,
		"--health-probe-bind-address=" + b.mgr.ProbeAddr,
	}, b.managerExtra...)
}

func (b *bench) startManager(ctx context.Context) error {
	return b.startReplica(ctx, b.mgr)
}

// startReplica starts m and waits for its /readyz.
func (b *bench) startReplica(ctx context.Context, m *testenv.ManagerProcess) error {
	if err := m.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", m.Name, err)
	}
	ready := make(chan error, 1)
	go func() { ready <- m.WaitReady(b.readyTimeout()) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("%w; its last lines:\n%s", err, tailWithoutInvites(m, 20))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// managerTail is the end of the manager's log without invite links, which carry invite tokens.
func (b *bench) managerTail(n int) string { return tailWithoutInvites(b.mgr, n) }

func tailWithoutInvites(m *testenv.ManagerProcess, n int) string {
	var kept []string
	for _, line := range strings.Split(m.Tail(4*n), "\n") {
		if !strings.Contains(line, "/invitations/") {
			kept = append(kept, line)
		}
	}
	if len(kept) > n {
		kept = kept[len(kept)-n:]
	}
	return strings.Join(kept, "\n")
}

// startWatch starts the bench's informers on the operator namespace (every namespace with
// -namespaces > 1): Passcodes, DashboardUsers and Secrets (every Secret, unlike the manager's
// cache), without managedFields, which no phase reads.
func (b *bench) startWatch(ctx context.Context) error {
	opts := cache.Options{Scheme: testenv.Scheme(), DefaultTransform: cache.TransformStripManagedFields()}
	if !b.watchesAll() {
		opts.DefaultNamespaces = map[string]cache.Config{operatorNamespace: {}}
	}
	var err error
	b.watch, err = cache.New(b.cp.Config, opts)
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{&accessv1alpha1.Passcode{}, &accessv1alpha1.DashboardUser{}, &corev1.Secret{}} {
		if _, err := b.watch.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	b.stopWatch = cancel
	go func() { _ = b.watch.Start(watchCtx) }()
	if !b.watch.WaitForCacheSync(ctx) {
		return fmt.Errorf("the bench's watch cache did not sync: %w", ctx.Err())
	}
	return nil
}

func (b *bench) keepDir() bool { return b.cfg.keep && b.dir != "" }

// close stops, in order, whatever setup started: it runs on success, on errors and on Ctrl-C.
func (b *bench) close() {
	if b.trivial != nil {
		b.trivial.stop()
	}
	if b.stopWatch != nil {
		b.stopWatch()
	}
	if b.replica != nil && b.replica.Running() {
		if err := b.replica.Terminate(managerStopTimeout); err != nil {
			say("stopping the second replica: %v", err)
		}
	}
	if b.mgr != nil && b.mgr.Running() {
		if err := b.mgr.Terminate(managerStopTimeout); err != nil {
			say("stopping the manager: %v", err)
		}
	}
	if b.cp != nil {
		if err := b.cp.Stop(); err != nil {
			say("stopping the control plane: %v", err)
		}
	}
	if b.dir != "" && !b.cfg.keep {
		if err := os.RemoveAll(b.dir); err != nil { //nolint:gosec // the folder MkdirTemp made for this run
			say("removing %s: %v", b.dir, err)
		}
	}
}

// machine is what the figures were measured on.
type machine struct {
	cpus      int
	memory    string
	goVersion string
	apiServer string
	assets    string
}

func (b *bench) machineInfo() (machine, error) {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), memory: memTotal(), assets: b.cp.Env.BinaryAssetsDirectory}
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(b.cp.Config))
	if err != nil {
		return m, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return m, fmt.Errorf("asking kube-apiserver its version: %w", err)
	}
	m.apiServer = v.GitVersion
	return m, nil
}

// memTotal is MemTotal from /proc/meminfo, in GiB.
func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				break
			}
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "unknown"
}
