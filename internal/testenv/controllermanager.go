package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManager is a kube-controller-manager running the garbage collector and the namespace
// controller against an envtest control plane.
//
// Why: envtest starts only etcd and kube-apiserver, so nothing acts on owner references (a deleted
// DashboardUser would keep its Passcodes and their Secrets forever) and a deleted namespace stays
// Terminating. With these two controllers, tests and `make dev` see deletion as a cluster does.
type ControllerManager struct {
	cmd     *exec.Cmd
	tmp     string // its kubeconfig (and log, unless LogPath was given); removed by Stop
	logPath string
	done    chan struct{}
	exitErr error // set before done is closed
	stopped bool  // Stop asked it to exit
}

// kcmControllers are the controllers it runs: owner references, namespace deletion, and
// Deployments (a ReplicaSet per pod template, for rollout restarts), nothing else (no Pods, no
// ServiceAccount tokens).
const kcmControllers = "garbage-collector-controller,namespace-controller,deployment-controller"

// kcmUser is the identity it authenticates as, the one a real cluster gives it.
const kcmUser = "system:kube-controller-manager"

// StartControllerManager starts kube-controller-manager (from env.BinaryAssetsDirectory) against
// the running control plane env, with cfg as the base for its credentials, and returns once the
// garbage collector has collected a probe object whose owner does not exist. Its output goes to
// logPath, or to a temporary file when logPath is empty; errors quote its last lines.
func StartControllerManager(env *envtest.Environment, cfg *rest.Config, logPath string) (*ControllerManager, error) {
	bin := filepath.Join(env.BinaryAssetsDirectory, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager is missing from %s: run `make control-plane` (or hack/control-plane.sh) first",
			env.BinaryAssetsDirectory)
	}
	user, err := env.ControlPlane.AddUser(envtest.User{Name: kcmUser, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager: creating its user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kube-controller-manager-")
	if err != nil {
		return nil, err
	}
	m := &ControllerManager{tmp: tmp, logPath: logPath, done: make(chan struct{})}
	if m.logPath == "" {
		m.logPath = filepath.Join(tmp, "output.log")
	}
	if err := m.start(bin, kubeconfig); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	if err := m.waitForGC(cfg, time.Minute); err != nil {
		_ = m.Stop()
		return nil, err
	}
	return m, nil
}

func (m *ControllerManager) start(bin string, kubeconfig []byte) error {
	kubeconfigPath := filepath.Join(m.tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(m.logPath)
	if err != nil {
		return err
	}
	// Flags of k8s.io/kubernetes/cmd/kube-controller-manager v1.37.2.
	m.cmd = exec.Command(bin, //nolint:gosec // the binary hack/control-plane.sh built
		"--kubeconfig="+kubeconfigPath,
		"--controllers="+kcmControllers,
		"--leader-elect=false",
		"--secure-port=0", // no /healthz server: readiness is a collected probe object, see waitForGC
	)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	// Its own process group, so a terminal's Ctrl-C reaches only whoever started it (which stops it
	// in order); it dies with that process.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	go func() {
		m.exitErr = m.cmd.Wait()
		_ = logFile.Close()
		close(m.done)
	}()
	return nil
}

// waitForGC creates a ConfigMap in kube-system owned by a ConfigMap that does not exist, and waits
// until the garbage collector deletes it: then its informers are synced and its workers run.
func (m *ControllerManager) waitForGC(cfg *rest.Config, timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	probe, err := cs.CoreV1().ConfigMaps(metav1.NamespaceSystem).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "testenv-gc-probe-",
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: "testenv-gc-probe-owner", UID: uuid.NewUUID(),
		}},
	}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("kube-controller-manager: creating the garbage collector probe: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-m.done:
			return false, errors.New("it exited")
		default:
		}
		_, err := cs.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, probe.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		// Leave nothing behind in a kept etcd (make dev).
		delCtx, delCancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = cs.CoreV1().ConfigMaps(metav1.NamespaceSystem).Delete(delCtx, probe.Name, metav1.DeleteOptions{})
		delCancel()
		return fmt.Errorf("kube-controller-manager: the garbage collector did not collect a probe object within %s (%w):\n%s",
			timeout, err, m.Tail(20))
	}
	return nil
}

// Done is closed when the process has exited, on its own or by Stop.
func (m *ControllerManager) Done() <-chan struct{} { return m.done }

// Err is how the process exited, once Done is closed.
func (m *ControllerManager) Err() error {
	<-m.done
	return m.exitErr
}

// LogPath is the file holding its output.
func (m *ControllerManager) LogPath() string { return m.logPath }

// Tail returns the last n lines of its output.
func (m *ControllerManager) Tail(n int) string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Stop asks it to exit (SIGTERM), kills it after 15 s, and removes its temporary files. It fails
// when the process had already exited on its own (a crash tests should hear about) or had to be
// killed. Calling it again does nothing.
func (m *ControllerManager) Stop() error {
	if m.stopped {
		return nil
	}
	m.stopped = true
	defer func() { _ = os.RemoveAll(m.tmp) }() // the log too, unless it was given a path
	select {
	case <-m.done:
		return fmt.Errorf("kube-controller-manager had exited (%v):\n%s", m.exitErr, m.Tail(20))
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		return errors.New("kube-controller-manager did not stop within 15 s of SIGTERM; killed it")
	}
}
