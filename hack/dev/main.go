// Command dev runs the operator on a real local control plane: etcd and kube-apiserver (built by
// hack/control-plane.sh), this project's CRDs, kube-controller-manager (the garbage collector and
// the namespace controller, so deleting a user or a namespace cascades as in a cluster), and the
// manager binary, all stopped together.
// `make dev` builds what is missing and runs it. State (etcd data, kubeconfig) lives in --state-dir,
// so a second run finds the objects the first one left.
//
// Usage: dev [--state-dir .dev] [--manager bin/manager] [-- manager flags...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "dev: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "[dev] "+format+"\n", args...) }

func run() error {
	stateDir := flag.String("state-dir", ".dev", "Folder for etcd data, the kubeconfig and logs; kept between runs.")
	managerBin := flag.String("manager", "bin/manager", "Manager binary to run against the control plane.")
	flag.Parse()
	managerArgs := flag.Args()

	state, err := filepath.Abs(*stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(state, "etcd"), 0o700); err != nil {
		return err
	}

	env, err := testenv.New()
	if err != nil {
		return err
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(state, "etcd")}
	say("starting etcd (data in %s) and kube-apiserver", env.ControlPlane.Etcd.DataDir)
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		say("stopping the control plane")
		if err := env.Stop(); err != nil {
			say("stopping the control plane: %v", err)
		}
	}()

	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(state, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	kcmLog := filepath.Join(state, "kube-controller-manager.log")
	say("starting kube-controller-manager: garbage collector and namespace controller (log in %s)", kcmLog)
	kcm, err := testenv.StartControllerManager(env, cfg, kcmLog)
	if err != nil {
		return err
	}
	kcmCrashed := false
	defer func() {
		if !kcmCrashed { // else run() reports it
			say("stopping kube-controller-manager")
		}
		if err := kcm.Stop(); err != nil && !kcmCrashed {
			say("%v", err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	args := append([]string{"--kubeconfig", kubeconfigPath, "--dev", "--notifier=log"}, managerArgs...)
	mgr := exec.Command(*managerBin, args...) //nolint:gosec // the binary and flags come from the developer
	mgr.Stdout, mgr.Stderr = os.Stdout, os.Stderr
	// Its own process group: Ctrl-C reaches only this runner, which stops the manager once and in
	// order (a second signal makes controller-runtime exit at once). It dies with the runner.
	mgr.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("starting the manager %s: %w", *managerBin, err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Wait() }()

	assets, _ := testenv.AssetsDir()
	say("ready. In another shell:")
	fmt.Fprintf(os.Stderr, `
    export KUBECONFIG=%s
    export PATH=%s:$PATH   # kubectl built by hack/control-plane.sh
    kubectl apply -f config/samples/
    kubectl get du,dpc            # DashboardUsers and Passcodes

kube-controller-manager (garbage collector, namespace controller) logs to %s.
Ctrl-C stops the manager, kube-controller-manager and the control plane; data stays in %s.

`, kubeconfigPath, assets, kcmLog, state)

	apiDown := watchAPIServer(ctx, cfg)
	select {
	case <-ctx.Done():
		say("stopping the manager")
		stopProcess(mgr, mgrDone)
		return nil
	case err := <-mgrDone:
		return fmt.Errorf("the manager exited (%v); stopping the control plane", describeExit(err))
	case <-kcm.Done():
		kcmCrashed = true
		stopProcess(mgr, mgrDone)
		return fmt.Errorf("kube-controller-manager exited (%v); stopped the manager and the control plane. Its last lines (%s):\n%s",
			describeExit(kcm.Err()), kcmLog, kcm.Tail(10))
	case err := <-apiDown:
		stopProcess(mgr, mgrDone)
		return fmt.Errorf("kube-apiserver stopped answering (%v); stopped the manager", err)
	}
}

// watchAPIServer reports when /readyz fails three times in a row: etcd or kube-apiserver died.
func watchAPIServer(ctx context.Context, cfg *rest.Config) <-chan error {
	out := make(chan error, 1)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		out <- err
		return out
	}
	go func() {
		failures := 0
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(reqCtx)
			cancel()
			if err == nil || ctx.Err() != nil {
				failures = 0
				continue
			}
			if failures++; failures == 3 {
				out <- err
				return
			}
		}
	}()
	return out
}

func describeExit(err error) string {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopProcess asks the manager to stop (SIGTERM, as the kubelet would) and kills it after 15 s.
func stopProcess(cmd *exec.Cmd, done <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			say("the manager stopped: %s", describeExit(err))
		}
	case <-time.After(15 * time.Second):
		say("the manager did not stop in 15 s; killing it")
		_ = cmd.Process.Kill()
		if err := <-done; err != nil {
			say("the manager was killed: %s", describeExit(err))
		}
	}
}
