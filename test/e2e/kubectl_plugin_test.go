package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// kubectlWithPlugin runs the real kubectl with only the built kubectl-dashboard added to its PATH,
// as a user who installed the plugin: kubectl finds `dashboard` there and runs it.
type kubectlWithPlugin struct {
	t                *testing.T
	path, kubeconfig string
	pluginDir        string
}

func newKubectlWithPlugin(t *testing.T, dev *devRun) *kubectlWithPlugin {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(binDir, "kubectl-dashboard"), filepath.Join(dir, "kubectl-dashboard")); err != nil {
		t.Fatal(err)
	}
	return &kubectlWithPlugin{t: t, path: dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		kubeconfig: filepath.Join(dev.state, "kubeconfig"), pluginDir: dir}
}

// run returns stdout, stderr and the exit code of `kubectl ARGS`.
func (k *kubectlWithPlugin) run(args ...string) (string, string, int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+k.path, "KUBECONFIG="+k.kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exitErr):
		return stdout.String(), stderr.String(), exitErr.ExitCode()
	}
	k.t.Fatalf("kubectl %v: %v", args, err)
	return "", "", -1
}

// ok runs `kubectl ARGS`, which must succeed, and returns its stdout.
func (k *kubectlWithPlugin) ok(args ...string) string {
	k.t.Helper()
	out, errOut, code := k.run(args...)
	if code != 0 {
		k.t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestKubectlRunsThePlugin(t *testing.T) {
	t.Parallel()
	dev := startDev(t, t.TempDir())
	defer dev.interrupt()
	dev.kubectl("apply", "-f", "config/samples/")
	dev.kubectl("label", "dashboarduser", "omar", "team=e2e")
	k := newKubectlWithPlugin(t, dev)

	if out := k.ok("plugin", "list"); !strings.Contains(out, filepath.Join(k.pluginDir, "kubectl-dashboard")) {
		t.Errorf("kubectl plugin list does not show the plugin:\n%s", out)
	}

	var list struct {
		APIVersion, Kind string
		Items            []accessv1alpha1.DashboardUser
	}
	if err := json.Unmarshal([]byte(k.ok("dashboard", "users", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 2 || list.Items[0].Spec.Email != "jane@example.com" ||
		list.Items[1].Kind != "DashboardUser" {
		t.Errorf("kubectl dashboard users list -o json: %+v", list)
	}
	if out := k.ok("dashboard", "users", "list", "-o", "name"); out != "dashboarduser/jane\ndashboarduser/omar\n" {
		t.Errorf("-o name: %q", out)
	}
	if out := k.ok("dashboard", "users", "list", "-l", "team=e2e", "-o", "name"); out != "dashboarduser/omar\n" {
		t.Errorf("-l team=e2e: %q", out)
	}
	if out := k.ok("dashboard", "users", "list", "-A", "--no-headers"); !strings.HasPrefix(out, "default ") {
		t.Errorf("-A --no-headers: %q", out)
	}

	// What -o yaml prints, kubectl apply takes back.
	file := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(file, []byte(k.ok("dashboard", "users", "list", "-o", "yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := k.ok("apply", "-f", file); !strings.Contains(out, "dashboarduser.access.dashboardops.io/jane") {
		t.Errorf("kubectl apply -f of -o yaml: %s", out)
	}

	// passcode status -o yaml is the Passcode; the operator's Secret value never shows.
	var secret string
	waitFor(t, 30*time.Second, "the operator to issue jane-api", func() bool {
		secret = dev.kubectl("get", "secret", "jane-api", "--ignore-not-found", "-o", "jsonpath={.data.passcode}")
		return secret != ""
	})
	out := k.ok("dashboard", "passcode", "status", "jane-api", "-o", "yaml")
	var pc accessv1alpha1.Passcode
	if err := yaml.UnmarshalStrict([]byte(out), &pc); err != nil {
		t.Fatal(err)
	}
	if pc.Kind != "Passcode" || pc.Name != "jane-api" || pc.Spec.UserRef.Name != "jane" {
		t.Errorf("passcode status -o yaml: %+v", pc)
	}
	if strings.Contains(out, secret) || strings.Contains(out, decode(t, secret)) {
		t.Error("passcode status -o yaml shows the passcode")
	}

	// A bad flag: exit code 2 through kubectl, naming the flag.
	if _, errOut, code := k.run("dashboard", "users", "list", "-o", "toml"); code != 2 || !strings.Contains(errOut, `invalid --output "toml"`) {
		t.Errorf("-o toml: exit %d, %s", code, errOut)
	}

	rolesRoundTrip(t, k)
}

// rolesRoundTrip creates a custom role, gives it to omar, is refused deleting it while he has it,
// deletes it with --force and gives omar his sample role back.
func rolesRoundTrip(t *testing.T, k *kubectlWithPlugin) {
	t.Helper()
	k.ok("dashboard", "roles", "create", "e2e-analyst", "--permission", "reports.read,exports.download")
	if out := k.ok("dashboard", "roles", "list"); !strings.Contains(out, "Admin") || !strings.Contains(out, "built-in") ||
		!strings.Contains(out, "data-analyst") || !strings.Contains(out, "e2e-analyst") {
		t.Errorf("roles list shows the system roles, the sample and the new role:\n%s", out)
	}
	if out := k.ok("dashboard", "roles", "list", "-o", "name"); out != "dashboardrole/data-analyst\ndashboardrole/e2e-analyst\n" {
		t.Errorf("roles list -o name: %q", out)
	}
	if _, errOut, code := k.run("dashboard", "users", "set-role", "omar", "e2e-missing"); code != 1 || !strings.Contains(errOut, `role "e2e-missing" does not exist`) {
		t.Errorf("set-role to a missing role: exit %d, %s", code, errOut)
	}
	k.ok("dashboard", "users", "set-role", "omar@example.com", "e2e-analyst")
	if _, errOut, code := k.run("dashboard", "roles", "delete", "e2e-analyst"); code != 1 || !strings.Contains(errOut, "1 user names this role (omar@example.com)") {
		t.Errorf("deleting a role in use: exit %d, %s", code, errOut)
	}
	k.ok("dashboard", "roles", "delete", "e2e-analyst", "--force")
	if out := k.ok("dashboard", "roles", "list", "-o", "name"); out != "dashboardrole/data-analyst\n" {
		t.Errorf("after delete: %q", out)
	}
	k.ok("dashboard", "users", "set-role", "omar", "Member")
}
