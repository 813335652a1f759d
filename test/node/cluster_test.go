// Package node runs the production install on the real one-node cluster of hack/cluster: the
// operator's own image in containerd, config/default applied as shipped (only the image reference
// set), the manager as two Pods under its ServiceAccount's RBAC and the restricted Pod Security
// Standard. It runs only inside hack/cluster/cluster.sh, which sets KUBECONFIG and CTR_SOCK:
//
//	make test-cluster                 # as make test does (root)
//	hack/cluster/cluster.sh go test ./test/node -count=1 -v -run TestX
//
// Outside a cluster every test skips. The tests share one cluster and run in file order; each
// installs what it needs and leaves the cluster without the operator (uninstall) when it ends.
//
// Bigger settings, off by default to keep the package within a few minutes:
//
//	NODE_APISERVER_DOWN_SECONDS=330   # TestManagerStartsWhileTheAPIServerIsDown keeps the API
//	                                  # server down this long (default 20), e.g. past kubelet's
//	                                  # longest crash-loop backoff (5 min); add -timeout 20m
package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/setup"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// The names config/default gives the install.
const (
	namespace  = "access-operator-system"
	deployment = "access-operator-controller-manager"
	accessSvc  = "access-operator-access"
	managerSel = "control-plane=controller-manager"
)

// Cluster is the running node and the clients to it.
type Cluster struct {
	Root       string // repository root
	State      string // hack/cluster's state dir (.cluster)
	HostIP     string // the node's address; Pods reach the host (and its API server :6443) on it
	Kubeconfig string // cluster-admin
	CtrSock    string // containerd's socket
	Kubectl    string // kubectl built by hack/control-plane.sh
	Client     client.Client
}

var (
	clusterOnce sync.Once
	theCluster  *Cluster
	clusterErr  error
)

// node returns the cluster, or skips the test outside hack/cluster/cluster.sh.
func node(t *testing.T) *Cluster {
	t.Helper()
	if os.Getenv("CTR_SOCK") == "" || os.Getenv("CLUSTER_STATE") == "" {
		t.Skip("runs only on the real node: make test-cluster, or hack/cluster/cluster.sh go test ./test/node")
	}
	clusterOnce.Do(func() { theCluster, clusterErr = connect() })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return theCluster
}

func connect() (*Cluster, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Root: root, State: os.Getenv("CLUSTER_STATE"), HostIP: os.Getenv("CLUSTER_HOST_IP"),
		Kubeconfig: os.Getenv("KUBECONFIG"), CtrSock: os.Getenv("CTR_SOCK"), Kubectl: filepath.Join(assets, "kubectl")}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, accessv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c.Client, err = client.New(cfg, client.Options{Scheme: scheme})
	return c, err
}

// run runs a command in the repository root with the cluster's environment; it fails the test on error.
func (c *Cluster) run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := c.try(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// try is run without failing: the output (stdout and stderr) and the error. Nothing here should take
// half an hour; a command that does is killed rather than left to hold the node.
func (c *Cluster) try(stdin []byte, name string, args ...string) (string, error) {
	return c.tryWithin(30*time.Minute, stdin, name, args...)
}

// childEnv is this process's environment without make's: under `make test` (a make inside a make)
// MAKEFLAGS carries -w, and a `make -s render` would print "Entering directory" into the manifests.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" {
			env = append(env, kv)
		}
	}
	return env
}

// KubectlT runs kubectl against the cluster as cluster-admin.
func (c *Cluster) KubectlT(t *testing.T, args ...string) string {
	t.Helper()
	return c.run(t, nil, c.Kubectl, args...)
}

// Image builds the manager image from this tree with `make image` (the build users get), linked
// with version, named name, into bin/image/<file>, and imports it into the node's containerd.
func (c *Cluster) Image(t *testing.T, name, version, file string) {
	t.Helper()
	tar := filepath.Join("bin", "image", file)
	c.run(t, nil, "make", "-s", "image", "IMG="+name, "VERSION="+version, "IMAGE_TAR="+tar)
	c.ImportImage(t, filepath.Join(c.Root, tar))
}

// ImportImage imports an OCI archive into the CRI's image store (no registry on this node).
func (c *Cluster) ImportImage(t *testing.T, tar string) {
	t.Helper()
	c.run(t, nil, "ctr", "--address", c.CtrSock, "-n", "k8s.io", "images", "import", tar)
}

// Render is config/default as `make render` prints it, with img as the manager's image.
func (c *Cluster) Render(t *testing.T, img string) []byte {
	t.Helper()
	return []byte(c.run(t, nil, "make", "-s", "render", "IMG="+img, "KUBECTL="+c.Kubectl))
}

// WithSMTP is an install pointed at an SMTP server without TLS (--allow-insecure-delivery: it is not on loopback) (the test's own, on the host): the one
// setting besides the image every real install changes (config/default names smtp.example.com).
func WithSMTP(manifests []byte, addr string) []byte {
	const shipped = "- --smtp-address=smtp.example.com:587\n"
	i := bytes.Index(manifests, []byte(shipped))
	if i < 0 {
		panic("the install no longer names " + shipped)
	}
	indent := manifests[bytes.LastIndexByte(manifests[:i], '\n')+1 : i]
	repl := fmt.Sprintf("- --smtp-address=%s\n%s- --smtp-tls=none\n%s- --allow-insecure-delivery\n", addr, indent, indent)
	return bytes.Replace(manifests, []byte(shipped), []byte(repl), 1)
}

// SMTP starts an SMTP server on the host's address (Pods reach it there), stopped when the test ends.
func (c *Cluster) SMTP(t *testing.T) *testenv.SMTPServer {
	t.Helper()
	s, err := testenv.StartSMTPServerOn(c.HostIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Apply applies manifests server-side, as `make deploy` does.
func (c *Cluster) Apply(t *testing.T, manifests []byte) {
	t.Helper()
	c.run(t, manifests, c.Kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-")
}

// Deploy installs config/default with img and waits until every replica is updated and Ready.
func (c *Cluster) Deploy(t *testing.T, img string) {
	t.Helper()
	c.Apply(t, c.Render(t, img))
	c.WaitRollout(t)
}

// WaitRollout waits for the manager Deployment's rollout; on failure it prints the Pods and logs.
func (c *Cluster) WaitRollout(t *testing.T) {
	t.Helper()
	out, err := c.try(nil, c.Kubectl, "-n", namespace, "rollout", "status", "deployment/"+deployment, "--timeout=300s")
	if err != nil {
		t.Fatalf("rollout: %v\n%s\n%s", err, out, c.Diagnose())
	}
}

// Undeploy runs `make undeploy`, as a user removes the install.
func (c *Cluster) Undeploy(t *testing.T) string {
	t.Helper()
	return c.run(t, nil, "make", "-s", "undeploy", "KUBECTL="+c.Kubectl)
}

// Diagnose is what a failing test prints: the Pods, their events and the manager logs' tails.
func (c *Cluster) Diagnose() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"-n", namespace, "get", "pods", "-o", "wide"},
		{"-n", namespace, "get", "events", "--sort-by=.lastTimestamp"},
		{"-n", namespace, "logs", "-l", managerSel, "--tail=40", "--prefix", "--all-containers"},
	} {
		out, _ := c.try(nil, c.Kubectl, args...)
		fmt.Fprintf(&b, "$ kubectl %s\n%s\n", strings.Join(args, " "), out)
	}
	return b.String()
}

// ManagerPods are the manager's Pods, not being deleted.
func (c *Cluster) ManagerPods(t *testing.T) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := c.Client.List(context.Background(), &pods, client.InNamespace(namespace),
		client.MatchingLabels{"control-plane": "controller-manager"}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// Leader is the name of the Pod holding the leader election Lease ("" when none does).
func (c *Cluster) Leader(t *testing.T) string {
	t.Helper()
	var lease coordinationv1.Lease
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: setup.LeaderElectionID}, &lease); err != nil {
		return ""
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	// controller-runtime's identity is "<hostname>_<uuid>"; the hostname is the Pod's name.
	holder, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	return holder
}

// ManagerLogs are the logs of every manager container, the previous instances' included.
func (c *Cluster) ManagerLogs(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range c.ManagerPods(t) {
		for _, prev := range []bool{false, true} {
			out, err := c.try(nil, c.Kubectl, "-n", namespace, "logs", p.Name, "--previous="+strconv.FormatBool(prev))
			switch {
			case err == nil:
				b.WriteString(out)
			case !prev: // a container that never restarted has no previous logs; the current ones must be there
				t.Errorf("the logs of %s: %v\n%s", p.Name, err, out)
			}
		}
	}
	return b.String()
}

// AccessURL is the access Service's ClusterIP address (kube-proxy balances it across ready Pods).
func (c *Cluster) AccessURL(t *testing.T) string {
	t.Helper()
	var svc corev1.Service
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: accessSvc}, &svc); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
}

// Verify asks POST /v1/verify at base: the HTTP status and, when valid, the user's email.
func Verify(ctx context.Context, hc *http.Client, base, account, code string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"account": account, "passcode": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/verify", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Email string `json:"email"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Email, nil
}

// KillContainer SIGKILLs a container through containerd, as an OOM kill or a crash would end it; the
// kubelet then restarts it in the same Pod (same IP).
func (c *Cluster) KillContainer(t *testing.T, containerID string) {
	t.Helper()
	id := strings.TrimPrefix(containerID, "containerd://")
	c.run(t, nil, "ctr", "--address", c.CtrSock, "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", id)
}

// StopAPIServer stops kube-apiserver and keeps it down until StartAPIServer (cluster.sh supervises it).
func (c *Cluster) StopAPIServer(t *testing.T) {
	t.Helper()
	hold := filepath.Join(c.State, "hold", "kube-apiserver")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(hold) }) // never leave the cluster without its API server
	b, err := os.ReadFile(filepath.Join(c.State, "run", "kube-apiserver.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping kube-apiserver (pid %d): %v", pid, err)
	}
	// It stops listening at once, but its graceful shutdown then waits up to a minute for watches:
	// killed after 3 s, as a crash would end it (etcd keeps the state).
	for start := time.Now(); syscall.Kill(pid, 0) == nil; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 3*time.Second {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// StartAPIServer lets the supervisor start kube-apiserver again and waits until it is ready (it
// returns when it was), then restarts kube-controller-manager and kube-scheduler.
func (c *Cluster) StartAPIServer(t *testing.T) time.Time {
	t.Helper()
	if err := os.Remove(filepath.Join(c.State, "hold", "kube-apiserver")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var ready time.Time
	for {
		if _, err := c.try(nil, c.Kubectl, "get", "--raw", "/readyz"); err == nil {
			ready = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kube-apiserver not ready 2 minutes after its restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// kube-controller-manager's and kube-scheduler's informers can stay stale for a minute after
	// the API server's return (a Deployment deleted and created again was then rolled out from its
	// old template): restart them, as their leader election would in a real cluster.
	for name, port := range map[string]int{"kube-controller-manager": 10257, "kube-scheduler": 10259} {
		c.restartSupervised(t, name, port)
	}
	return ready
}

// restartSupervised kills a control-plane process that cluster.sh supervises and waits until its
// successor answers /healthz on port.
func (c *Cluster) restartSupervised(t *testing.T, name string, port int) {
	t.Helper()
	pidFile := filepath.Join(c.State, "run", name+".pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("%s is not supervised (hack/cluster/cluster.sh): %v", name, err)
	}
	old := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(old)
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // its own self-signed serving certificate, on loopback
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(pidFile)
		if now := strings.TrimSpace(string(b)); now != "" && now != old {
			resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy a minute after its restart", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var imageOnce sync.Once

// BuiltImage builds and imports img once per test binary (the tests of one run share the build).
func (c *Cluster) BuiltImage(t *testing.T) {
	t.Helper()
	built := false
	imageOnce.Do(func() {
		start := time.Now()
		c.Image(t, img, "v0.0.0-e2e", "e2e.tar")
		t.Logf("image built and imported in %s", time.Since(start).Round(time.Millisecond))
		built = true
	})
	if !built && t.Failed() {
		t.FailNow()
	}
}

// Install installs config/default as shipped (this tree's image, invites to a host SMTP server it
// starts) and waits until both replicas are Ready; the install is removed with `make undeploy`
// when the test ends. It returns the SMTP server.
func (c *Cluster) Install(t *testing.T) *testenv.SMTPServer {
	t.Helper()
	c.BuiltImage(t)
	mail := c.SMTP(t)
	start := time.Now()
	c.Apply(t, WithSMTP(c.Render(t, img), mail.Addr))
	t.Cleanup(func() {
		// Bounded: a removal that hangs (a finalizer nobody takes off) fails this test, not the run.
		if out, err := c.tryWithin(3*time.Minute, nil, "make", "-s", "undeploy", "KUBECTL="+c.Kubectl); err != nil {
			t.Errorf("make undeploy: %v\n%s", err, out)
		}
	})
	c.WaitRollout(t)
	t.Logf("install-to-Ready: config/default applied, 2 replicas Ready in %s", time.Since(start).Round(time.Millisecond))
	return mail
}

// Namespace creates a namespace with annotations, deleted when the test ends (before the install
// is removed: its Passcodes' finalizers need the manager).
func (c *Cluster) Namespace(t *testing.T, name string, annotations map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	if err := c.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(context.Background(), ns) })
}

// tryWithin is try with a time limit: a command that hangs is killed and reported as such.
func (c *Cluster) tryWithin(limit time.Duration, stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.Root
	cmd.Env = append(childEnv(), "KUBECONFIG="+c.Kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after %s (killed): %w", limit, err)
	}
	return string(out), err
}

// NoForbidden fails the test when any manager log (both Pods, the previous containers' included)
// has a line containing "forbidden": the manager lacked a right the install should grant.
func (c *Cluster) NoForbidden(t *testing.T) {
	t.Helper()
	logs := c.ManagerLogs(t)
	if logs == "" {
		t.Error("no manager logs to check")
	}
	if strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Errorf("the manager logged forbidden:\n%s", grepLines(logs, "forbidden"))
	}
}

// Auth asks GET /v1/auth at base: the HTTP status and the response's identity headers.
func Auth(ctx context.Context, hc *http.Client, base, account, code string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/auth", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Dashboard-Account-Id", account)
	req.Header.Set("X-Dashboard-Passcode", code)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}
