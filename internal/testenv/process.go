package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/testenv/webhookverify"
)

// This file holds helpers for tests that run the real manager binary as a process against a real
// control plane: start it, kill it (SIGKILL, like a node dying or the OOM killer), stop it
// (SIGTERM, like a rollout), restart it, and receive its webhook invites.

// ControlPlane is a real kube-apiserver + etcd with this project's CRDs and a kubeconfig on disk
// for manager processes.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	// Client reads straight from the API server and can watch.
	Client client.WithWatch
	// Kubeconfig is the path of a kubeconfig for a user in system:masters.
	Kubeconfig string
}

// StartControlPlane starts a control plane and writes its kubeconfig into dir.
func StartControlPlane(dir string) (*ControlPlane, error) { return StartControlPlaneWith(dir, nil) }

// StartControlPlaneWith is StartControlPlane with prepare, when set, changing the environment
// before it starts (e.g. a fixed CertDir, so that the API server can be stopped and started again).
func StartControlPlaneWith(dir string, prepare func(*envtest.Environment)) (*ControlPlane, error) {
	env, err := New()
	if err != nil {
		return nil, err
	}
	if prepare != nil {
		prepare(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{Env: env, Config: cfg, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	fail := func(err error) (*ControlPlane, error) {
		_ = env.Stop()
		return nil, err
	}
	if cp.Client, err = client.NewWithWatch(cfg, client.Options{Scheme: Scheme()}); err != nil {
		return fail(err)
	}
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "access-operator", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return fail(fmt.Errorf("adding the manager's user: %w", err))
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600); err != nil {
		return fail(err)
	}
	return cp, nil
}

// Stop stops the control plane.
func (c *ControlPlane) Stop() error { return c.Env.Stop() }

// BuildManager builds the manager (main.go at the repository root) into dir and returns its path.
func BuildManager(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, ".") //nolint:gosec // builds this repository into the test's own folder
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s .: %w\n%s", bin, err, out)
	}
	return bin, nil
}

// FreeAddr returns 127.0.0.1:<port> with a port that is free now. Ports are chosen before the
// manager starts, so that a restarted manager listens where the test expects it.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// ManagerProcess is the manager binary run as a process: its access server and probes listen on
// loopback ports fixed for its whole life, and every start appends its output to one log file.
type ManagerProcess struct {
	// Name tells processes apart in messages.
	Name string
	// AccessAddr and ProbeAddr are where the access server and /readyz listen (127.0.0.1:<port>).
	AccessAddr string
	ProbeAddr  string
	// LogPath receives stdout and stderr of every start.
	LogPath string

	binary string
	args   []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has exited
	err    error         // its exit status
	starts int
}

// NewManagerProcess prepares a manager with the given kubeconfig and extra flags; it picks free
// ports for the access server and the probes, points --public-url (invite links) at that access
// server and turns the metrics server off; args come last, so they win. Nothing runs until Start.
func NewManagerProcess(name, binary, kubeconfig, logPath string, args ...string) (*ManagerProcess, error) {
	access, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	probe, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	m := &ManagerProcess{Name: name, AccessAddr: access, ProbeAddr: probe, LogPath: logPath, binary: binary}
	m.args = append([]string{
		"--kubeconfig=" + kubeconfig,
		"--access-bind-address=" + access,
		"--health-probe-bind-address=" + probe,
		"--public-url=http://" + access,
		"--dev", // a loopback --public-url
		"--metrics-bind-address=0",
	}, args...)
	return m, nil
}

// AccessURL is the base URL of the access server.
func (m *ManagerProcess) AccessURL() string { return "http://" + m.AccessAddr }

// Start starts the process; it must not be running.
func (m *ManagerProcess) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && !closed(m.exited) {
		return fmt.Errorf("%s is already running", m.Name)
	}
	out, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m.starts++
	_, _ = fmt.Fprintf(out, "=== %s: start %d at %s ===\n", m.Name, m.starts, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(m.binary, m.args...) //nolint:gosec // the test's own build of the manager
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return err
	}
	exited := make(chan struct{})
	m.cmd, m.exited, m.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Running reports whether the process started last is still running.
func (m *ManagerProcess) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !closed(m.exited)
}

// Exited is closed when the process started last exits; nil before the first start.
func (m *ManagerProcess) Exited() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exited
}

// ExitErr is the exit status of the process started last once it exited (nil: exit status 0).
func (m *ManagerProcess) ExitErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// WaitReady polls /readyz until it answers 200. It fails early when the process exits.
func (m *ManagerProcess) WaitReady(timeout time.Duration) error {
	exited := m.Exited()
	hc := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get("http://" + m.ProbeAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %v", m.Name, m.ExitErr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready within %s", m.Name, timeout)
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone: no shutdown, no lease release.
func (m *ManagerProcess) Kill() error {
	return m.signal(syscall.SIGKILL, 10*time.Second)
}

// Terminate sends SIGTERM (a graceful stop) and waits up to timeout, then kills it.
func (m *ManagerProcess) Terminate(timeout time.Duration) error {
	if err := m.signal(syscall.SIGTERM, timeout); err != nil {
		_ = m.Kill()
		return err
	}
	return nil
}

// Restart starts the process again after it exited (Kill or Terminate first).
func (m *ManagerProcess) Restart() error { return m.Start() }

func (m *ManagerProcess) signal(sig syscall.Signal, timeout time.Duration) error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil || closed(exited) {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %s of %s", m.Name, timeout, sig)
	}
}

// Output is everything the process printed over all its starts (for failure messages).
func (m *ManagerProcess) Output() string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Tail is the last n lines of Output.
func (m *ManagerProcess) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(m.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func closed(ch chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Delivery is one invite POST the webhook receiver accepted. AcceptURL holds an invite token:
// tests keep it in memory and never print it.
type Delivery struct {
	IdempotencyKey string
	Project        string
	Email          string
	AcceptURL      string
	ExpiresAt      string
	Received       time.Time
}

// WebhookReceiverOptions tune a WebhookReceiver.
type WebhookReceiverOptions struct {
	// Delay, when set, is how long each delivery is held after it was recorded and before it is
	// answered 200: a slow receiver, which widens the window in which a crash of the manager loses
	// the answer to a delivery that did arrive.
	Delay func() time.Duration
	// OnReceive, when set, is called with each recorded delivery before the Delay.
	OnReceive func(Delivery)
}

// WebhookReceiver is the far end of --notifier=webhook: it checks each invite's signature and
// records the deliveries by idempotency key.
type WebhookReceiver struct {
	// URL is for --webhook-url, SecretFile for --webhook-secret-file.
	URL        string
	SecretFile string

	opts   WebhookReceiverOptions
	server *httptest.Server
	secret []byte

	mu       sync.Mutex
	byKey    map[string][]Delivery
	events   []EventDelivery
	rejected []string
}

// EventDelivery is one lifecycle notification (docs/notifications.md) the webhook receiver
// accepted, with its raw body.
type EventDelivery struct {
	IdempotencyKey string
	Type           string
	Account        string
	User           string
	PasscodeName   string
	Revision       int64
	Body           string
	Received       time.Time
}

// NewWebhookReceiver starts a receiver; its signing key is written into dir.
func NewWebhookReceiver(dir string, opts WebhookReceiverOptions) (*WebhookReceiver, error) {
	w := &WebhookReceiver{
		SecretFile: filepath.Join(dir, "webhook-secret"),
		opts:       opts,
		secret:     []byte("crash-storm-signing-key"),
		byKey:      map[string][]Delivery{},
	}
	// The Standard Webhooks form, as a receiver's library is given it.
	if err := os.WriteFile(w.SecretFile, []byte(webhookverify.Secret(w.secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	w.server = httptest.NewServer(http.HandlerFunc(w.serve))
	w.URL = w.server.URL + "/invites"
	return w, nil
}

// Close stops the receiver.
func (w *WebhookReceiver) Close() { w.server.Close() }

// invitePayload is the part of the webhook's JSON document the receiver reads (see notify.NewWebhook).
type invitePayload struct {
	Type           string `json:"type"`
	Account        string `json:"account"`
	User           string `json:"user"`
	PasscodeName   string `json:"passcodeName"`
	Revision       int64  `json:"revision"`
	Project        string `json:"project"`
	Email          string `json:"email"`
	AcceptURL      string `json:"acceptUrl"`
	ExpiresAt      string `json:"expiresAt"`
	IdempotencyKey string `json:"idempotencyKey"`
}

func (w *WebhookReceiver) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, "cannot read the body", http.StatusBadRequest)
		return
	}
	var p invitePayload
	switch {
	case r.Method != http.MethodPost:
		w.reject(rw, "method "+r.Method)
		return
	case webhookverify.Verify(webhookverify.Secret(w.secret), r.Header, body, time.Now()) != nil:
		w.reject(rw, "the Standard Webhooks signature does not verify")
		return
	case json.Unmarshal(body, &p) != nil || (p.Type != "dashboard.invite" && !lifecycleType(p.Type)):
		w.reject(rw, "not an invite or lifecycle notification document")
		return
	case p.IdempotencyKey == "" || r.Header.Get("Idempotency-Key") != p.IdempotencyKey || r.Header.Get("webhook-id") != p.IdempotencyKey:
		w.reject(rw, "the Idempotency-Key or webhook-id header does not match the document")
		return
	case p.Type != "dashboard.invite":
		w.mu.Lock()
		w.events = append(w.events, EventDelivery{IdempotencyKey: p.IdempotencyKey, Type: p.Type, Account: p.Account,
			User: p.User, PasscodeName: p.PasscodeName, Revision: p.Revision, Body: string(body), Received: time.Now()})
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	d := Delivery{IdempotencyKey: p.IdempotencyKey, Project: p.Project, Email: p.Email, AcceptURL: p.AcceptURL,
		ExpiresAt: p.ExpiresAt, Received: time.Now()}
	w.mu.Lock()
	w.byKey[d.IdempotencyKey] = append(w.byKey[d.IdempotencyKey], d)
	w.mu.Unlock()
	if w.opts.OnReceive != nil {
		w.opts.OnReceive(d)
	}
	if w.opts.Delay != nil {
		select {
		case <-time.After(w.opts.Delay()):
		case <-r.Context().Done():
			return
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *WebhookReceiver) reject(rw http.ResponseWriter, why string) {
	w.mu.Lock()
	w.rejected = append(w.rejected, why)
	w.mu.Unlock()
	http.Error(rw, why, http.StatusUnauthorized)
}

// Deliveries returns a copy of the deliveries by idempotency key, each in arrival order.
func (w *WebhookReceiver) Deliveries() map[string][]Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]Delivery, len(w.byKey))
	for k, v := range w.byKey {
		out[k] = append([]Delivery(nil), v...)
	}
	return out
}

// Events returns every lifecycle notification accepted so far, in arrival order (repeats included).
func (w *WebhookReceiver) Events() []EventDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]EventDelivery(nil), w.events...)
}

// lifecycleType reports whether t is a lifecycle notification type.
func lifecycleType(t string) bool {
	for _, e := range notify.EventTypes() {
		if string(e) == t {
			return true
		}
	}
	return false
}

// Rejected lists why requests were refused (bad signature, ...); a correct manager causes none.
func (w *WebhookReceiver) Rejected() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.rejected...)
}
