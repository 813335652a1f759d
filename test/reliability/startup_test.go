package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestManagerWaitsForTheAPIServer starts the built manager binary while kube-apiserver is
// stopped, as a Pod starts during a control plane outage. The manager must stay up, /healthz
// answer 200 and /readyz 503 saying it waits for the API server; SIGTERM then must end it promptly
// with exit status 0; and a second manager, still waiting when kube-apiserver starts again, must
// become ready and issue and verify a passcode, within seconds rather than after kubelet's
// crash-loop backoff. A manager that exits when it cannot reach the API server (as it did) fails
// at the first check.
func TestManagerWaitsForTheAPIServer(t *testing.T) {
	dir := t.TempDir()
	bin, err := testenv.BuildManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := testenv.StartControlPlaneWith(dir, func(env *envtest.Environment) {
		api := env.ControlPlane.GetAPIServer()
		api.CertDir = t.TempDir() // the same certificates after a restart (see restartable)
		api.Configure().Set("shutdown-send-retry-after", "true")
	})
	if err != nil {
		t.Fatal(err)
	}
	api := cp.Env.ControlPlane.APIServer
	down := false
	t.Cleanup(func() {
		if down { // leave a control plane that Stop can stop
			_ = api.Start()
		}
		_ = cp.Stop()
	})
	if err := api.Stop(); err != nil {
		t.Fatal(err)
	}
	down = true
	apiURL := "https://" + api.Address + ":" + api.Port

	start := func(name string) *testenv.ManagerProcess {
		m, err := testenv.NewManagerProcess(name, bin, cp.Kubeconfig, filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = m.Terminate(20 * time.Second)
			if t.Failed() {
				t.Logf("%s output (last 30 lines):\n%s", name, m.Tail(30))
			}
		})
		return m
	}
	stopped, recovering := start("stopped-while-waiting"), start("waiting-for-the-api-server")

	for _, m := range []*testenv.ManagerProcess{stopped, recovering} {
		// Until the reason shows, the manager may still be starting; an exit fails at once.
		var body string
		deadline := time.Now().Add(30 * time.Second)
		for {
			var code int
			code, body = get(t, "http://"+m.ProbeAddr+"/readyz")
			if code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for the API server at "+apiURL) {
				break
			}
			if !m.Running() {
				t.Fatalf("%s exited while the API server was down (%v): it must wait for it, serving its probes\n%s",
					m.Name, m.ExitErr(), m.Tail(5))
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz never said it waits for the API server at %s; last answer %d %q", m.Name, apiURL, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s /readyz: %s", m.Name, strings.TrimSpace(body))
		if code, body := get(t, "http://"+m.ProbeAddr+"/healthz"); code != http.StatusOK {
			t.Fatalf("%s: /healthz answered %d %q while waiting: the process is fine and must not be restarted", m.Name, code, body)
		}
	}
	// A second failed attempt (1 s later) shows the waiting is a loop, not a slow exit.
	time.Sleep(2 * time.Second)
	for _, m := range []*testenv.ManagerProcess{stopped, recovering} {
		if !m.Running() {
			t.Fatalf("%s exited while waiting (%v)\n%s", m.Name, m.ExitErr(), m.Tail(5))
		}
	}

	sigterm := time.Now()
	if err := stopped.Terminate(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM while waiting for the API server: %v", err)
	}
	if err := stopped.ExitErr(); err != nil {
		t.Fatalf("SIGTERM while waiting for the API server: exit %v, want status 0", err)
	}
	t.Logf("SIGTERM while waiting: exited with status 0 after %s", time.Since(sigterm).Round(time.Millisecond))

	restarted := time.Now()
	if err := api.Start(); err != nil {
		t.Fatal(err)
	}
	down = false
	apiBack := time.Since(restarted)
	if err := recovering.WaitReady(60 * time.Second); err != nil {
		t.Fatalf("after the API server came back: %v\n%s", err, recovering.Tail(10))
	}
	ready := time.Since(restarted)
	t.Logf("kube-apiserver answered %s after its start; the waiting manager was ready %s after it (%.1f s in all)",
		apiBack.Round(100*time.Millisecond), (ready - apiBack).Round(100*time.Millisecond), ready.Seconds())

	// It serves: a Passcode is issued and its passcode verifies at the access server.
	ctx := context.Background()
	ns := "startup"
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := cp.Client.Create(ctx, &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ana"},
		Spec: accessv1alpha1.DashboardUserSpec{Email: "ana@example.com", Role: accessv1alpha1.RoleMember}}); err != nil {
		t.Fatal(err)
	}
	if err := cp.Client.Create(ctx, &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ana"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "ana"}, Tenure: "30d"}}); err != nil {
		t.Fatal(err)
	}
	var valid bool
	var last string
	for deadline := time.Now().Add(30 * time.Second); !valid && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		s := &corev1.Secret{}
		if err := cp.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "ana"}, s); err != nil {
			last = err.Error()
			continue
		}
		code := string(s.Data[passcodesecret.KeyPasscode])
		if code == "" {
			last = "the Secret holds no passcode yet"
			continue
		}
		status, answer := postVerify(t, recovering.AccessURL()+"/v1/verify", ns, code)
		valid, last = status == http.StatusOK, fmt.Sprintf("/v1/verify answered %d %s", status, answer)
	}
	if !valid {
		t.Fatalf("the manager does not serve after the API server came back: %s", last)
	}
}

// get returns the status and body of a GET (0 and the error when the request fails).
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// postVerify asks /v1/verify about a passcode; it returns the status and the body without it.
func postVerify(t *testing.T, url, account, code string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"account": account, "passcode": code})
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.ReplaceAll(string(b), code, "<passcode>")
}
