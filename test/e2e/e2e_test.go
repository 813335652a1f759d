// Package e2e drives the built binaries the way a user does: `make dev`'s runner with the manager
// on a real control plane, kubectl from hack/control-plane.sh, and the manager's flag checks.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dashboardops/access-operator/internal/testenv"
)

var (
	root   string // repository root
	binDir string // binaries built for this run
	assets string // kube-apiserver, etcd, kubectl
)

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.RepoRoot(); err == nil {
		assets, err = testenv.AssetsDir()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for name, pkg := range map[string]string{"manager": ".", "dev": "./hack/dev", "kubectl-dashboard": "./cmd/kubectl-dashboard"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

func TestManagerRefusesBadFlagsNamingThem(t *testing.T) {
	cases := map[string][]string{
		"--smtp-tls":                  {"--smtp-tls=ssl"},
		"--smtp-ca-file":              {"--notifier=smtp", "--smtp-address=mail.example.com:587", "--smtp-from=a@example.com", "--smtp-ca-file=/nope"},
		"--invite-batch-size":         {"--invite-batch-size=500"},
		"--public-url":                {"--public-url=not a url"},
		"--webhook-url":               {"--notifier=webhook"},
		"--trusted-proxies":           {"--trusted-proxies=10.0.0.0/40"},
		"--notify-events":             {"--notify-events=passcode.expiring,passcode.exploded"},
		"--leader-election-namespace": {"--leader-election-namespace=Not_A_Namespace"},
		"--webhook-signature":         {"--notifier=webhook", "--webhook-url=https://hooks.example.com/x", "--webhook-signature=hmac"},
		"--notifier":                  {}, // the log notifier prints live invite links: --dev only
	}
	for flagName, args := range cases {
		var stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(binDir, "manager"), args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		exitErr, ok := err.(*exec.ExitError)
		if !ok || exitErr.ExitCode() != 2 {
			t.Errorf("%v: want exit status 2, got %v", args, err)
		}
		if !strings.Contains(stderr.String(), flagName+":") {
			t.Errorf("%v: stderr does not name %s:\n%s", args, flagName, stderr.String())
		}
	}
}

// devRun is one `make dev` session: the runner with its control plane and manager.
type devRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	state  string
	output *bytes.Buffer
	done   chan error
}

// startDev runs `make dev`'s runner; managerArgs are added to the manager's flags (a later value
// of a flag wins).
func startDev(t *testing.T, state string, managerArgs ...string) *devRun {
	t.Helper()
	out := &bytes.Buffer{}
	args := append([]string{"--state-dir", state, "--manager", filepath.Join(binDir, "manager"), "--",
		"--health-probe-bind-address=127.0.0.1:0", "--access-bind-address=127.0.0.1:0"}, managerArgs...)
	cmd := exec.Command(filepath.Join(binDir, "dev"), args...)
	cmd.Dir = root
	// A process group of its own, like a terminal's foreground job, so interrupt is a real Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !closed && strings.Contains(sc.Text(), "Ctrl-C stops the manager") { // the banner's last line
				close(ready)
				closed = true
			}
		}
	}()
	d := &devRun{t: t, cmd: cmd, state: state, output: out, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); _ = pw.Close() }()
	select {
	case <-ready:
	case err := <-d.done:
		t.Fatalf("dev exited before it was ready: %v\n%s", err, out)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("dev was not ready within 2 minutes:\n%s", out)
	}
	return d
}

// interrupt is Ctrl-C: the terminal signals the whole foreground process group; every child must
// stop and the runner must exit cleanly.
func (d *devRun) interrupt() {
	d.t.Helper()
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Fatalf("dev did not exit cleanly on Ctrl-C: %v\n%s", err, d.output)
		}
		if strings.Contains(d.output.String(), "the manager stopped: exit status") {
			d.t.Fatalf("the manager did not stop cleanly on Ctrl-C:\n%s", d.output)
		}
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		d.t.Fatalf("dev did not stop within a minute of Ctrl-C:\n%s", d.output)
	}
}

// client talks to the session's API server with the kubeconfig it wrote.
func (d *devRun) client() client.Client {
	d.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(d.state, "kubeconfig"))
	if err != nil {
		d.t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// kubectlCommand is kubectl with the session's kubeconfig, run from the repository's root, bounded
// by a minute (cancel releases it).
func (d *devRun) kubectlCommand(args ...string) (cmd *exec.Cmd, cancel func()) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd = exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(d.state, "kubeconfig"))
	return cmd, cancel
}

// tryKubectl is kubectl returning its combined output and error (a refusal some tests are after).
func (d *devRun) tryKubectl(args ...string) (string, error) {
	cmd, cancel := d.kubectlCommand(args...)
	defer cancel()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl is kubectl that fails the test when it fails.
func (d *devRun) kubectl(args ...string) string {
	d.t.Helper()
	out, err := d.tryKubectl(args...)
	if err != nil {
		d.t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

// writeFile writes body to dir/name for kubectl apply -f, and returns the path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDevRunsTheOperatorAndKeepsItsData(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	dev := startDev(t, state)
	for _, hint := range []string{"export KUBECONFIG=" + filepath.Join(state, "kubeconfig"), "kubectl apply -f config/samples/"} {
		if !strings.Contains(dev.output.String(), hint) {
			t.Errorf("dev does not print %q", hint)
		}
	}
	dev.kubectl("apply", "-f", "config/samples/")

	users := dev.kubectl("get", "du")
	header := strings.Fields(strings.SplitN(users, "\n", 2)[0])
	wantHeader := []string{"NAME", "DISPLAY", "NAME", "ROLE", "EMAIL", "STATUS", "LAST", "LOGIN", "PASSCODE", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("kubectl get du columns = %v, want %v", header, wantHeader)
	}
	if !strings.Contains(users, "jane@example.com") {
		t.Errorf("the sample user is missing:\n%s", users)
	}
	passcodes := dev.kubectl("get", "dpc") // the short name, as the README says
	header = strings.Fields(strings.SplitN(passcodes, "\n", 2)[0])
	wantHeader = []string{"NAME", "USER", "STATUS", "EXPIRES", "RENEWS", "REVISION", "LAST", "USED", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("kubectl get dpc columns = %v, want %v", header, wantHeader)
	}
	// The manager is running: it has stamped the status of the samples.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(dev.kubectl("get", "du", "jane", "-o", "jsonpath={.status.observedGeneration}"), "1") {
		if time.Now().After(deadline) {
			t.Fatalf("the manager never reconciled the sample user:\n%s", dev.output)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// kube-controller-manager runs too: deleting a user deletes its Passcode (which the manager made
	// the user own) and, through it, the Passcode's Secret.
	waitFor(t, 30*time.Second, "omar-trial owned by omar, with its Secret", func() bool {
		owner := dev.kubectl("get", "passcodes", "omar-trial", "-o", "jsonpath={.metadata.ownerReferences[*].name}")
		return owner == "omar" && dev.kubectl("get", "secret", "omar-trial", "--ignore-not-found", "-o", "name") != ""
	})
	dev.kubectl("delete", "du", "omar")
	waitFor(t, 30*time.Second, "the garbage collector to delete omar's Passcode and its Secret", func() bool {
		return dev.kubectl("get", "passcodes/omar-trial", "secrets/omar-trial", "--ignore-not-found", "-o", "name") == ""
	})
	dev.interrupt()

	// A second run finds the users the first one left.
	dev = startDev(t, state)
	if got := dev.kubectl("get", "du", "jane", "-o", "jsonpath={.spec.email}"); got != "jane@example.com" {
		t.Errorf("after a restart, jane's email = %q", got)
	}
	dev.interrupt()
}

func TestDevStopsWhenTheManagerCrashes(t *testing.T) {
	state := t.TempDir()
	out := &bytes.Buffer{}
	// A manager that exits at once: the runner must stop the control plane and say why.
	cmd := exec.Command(filepath.Join(binDir, "dev"), "--state-dir", state, "--manager", "/bin/false")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, out, out
	err := cmd.Run()
	if err == nil {
		t.Fatalf("dev exited 0 although the manager crashed:\n%s", out)
	}
	if !strings.Contains(out.String(), "the manager exited") || !strings.Contains(out.String(), "stopping the control plane") {
		t.Errorf("dev does not say what happened:\n%s", out)
	}
}
