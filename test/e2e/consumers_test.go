package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// consumersManifest is what a platform team applies: a legacy credential to keep, a workload that
// holds the passcode, and a user.
const consumersManifest = `
apiVersion: v1
kind: Secret
metadata: {name: legacy-dashboard-key, namespace: default}
stringData: {passcode: legacy-Dashboard-key-0123456789}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: etl, namespace: default}
spec:
  replicas: 0
  selector: {matchLabels: {app: etl}}
  template:
    metadata: {labels: {app: etl}}
    spec:
      containers: [{name: etl, image: registry.example.com/etl:1}]
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: etl, namespace: default}
spec: {email: etl@example.com, role: Member}
`

// TestConsumersThroughTheBinaries: `make dev`'s control plane (with kube-controller-manager), the
// manager, kubectl and the plugin. The plugin imports a passcode in use; the Secret is shaped by a
// template; a reset restarts the Deployment once, through the real deployment controller.
func TestConsumersThroughTheBinaries(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	dev := startDev(t, state)
	defer dev.interrupt()

	for path, fields := range map[string][]string{
		"passcodes.spec":                {"rolloutRestartTargets", "secretCopies", "import", "secretTemplate"},
		"passcodes.spec.secretTemplate": {"type", "data", "labels", "annotations"},
		"passcodes.spec.import":         {"secretRef"},
		"passcodes.status":              {"rolloutRestart"},
	} {
		out := dev.kubectl("explain", path)
		for _, f := range fields {
			if !strings.Contains(out, "  "+f+"\t") {
				t.Errorf("kubectl explain %s does not document %s:\n%s", path, f, out)
			}
		}
	}

	manifest := filepath.Join(state, "consumers.yaml")
	if err := os.WriteFile(manifest, []byte(consumersManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	dev.kubectl("apply", "-f", manifest)
	out := dev.plugin("passcode", "import", "etl", "-n", "default", "--from-secret", "legacy-dashboard-key", "--tenure", "30d")
	if !strings.Contains(out, "importing the passcode of secret/legacy-dashboard-key") || strings.Contains(out, "legacy-Dashboard-key-0123456789") {
		t.Fatalf("passcode import said:\n%s", out)
	}
	// The plugin makes the Passcode; a team adds how its workloads consume it.
	dev.kubectl("patch", "passcode", "etl-api", "--type=merge", "-p",
		`{"spec":{"rolloutRestartTargets":[{"kind":"Deployment","name":"etl"}],`+
			`"secretTemplate":{"data":{"API_KEY":"Bearer {{ .Passcode }}","netrc":"machine dashboard login {{ .Email }} password {{ .Passcode }}"}}}}`)

	jsonpath := func(obj, path string) string { return dev.kubectl("get", obj, "-n", "default", "-o", "jsonpath="+path) }
	waitFor(t, 30*time.Second, "the imported passcode to be Active with the templated keys", func() bool {
		return jsonpath("passcode/etl-api", "{.status.phase}/{.status.revision}") == "Active/1" && jsonpath("secret/etl-api", "{.data.API_KEY}") != ""
	})
	if got := decode(t, jsonpath("secret/etl-api", "{.data.passcode}")); got != "legacy-Dashboard-key-0123456789" {
		t.Fatalf("revision 1 is not the imported passcode")
	}
	if got := decode(t, jsonpath("secret/etl-api", "{.data.API_KEY}")); got != "Bearer legacy-Dashboard-key-0123456789" {
		t.Fatalf("API_KEY is not rendered from the template")
	}
	if got := jsonpath("passcode/etl-api", `{.status.conditions[?(@.type=="Ready")].reason}`); got != "Imported" {
		t.Errorf("Ready reason %q, want Imported", got)
	}
	waitFor(t, 30*time.Second, "the deployment controller's first ReplicaSet", func() bool { return replicaSets(dev) == 1 })

	dev.kubectl("annotate", "passcode", "etl-api", "-n", "default", "--overwrite", "access.dashboardops.io/reset-requested-at="+time.Now().UTC().Format(time.RFC3339))
	waitFor(t, 30*time.Second, "revision 2 and one restart of the Deployment", func() bool {
		return jsonpath("passcode/etl-api", "{.status.revision}") == "2" && jsonpath("passcode/etl-api", "{.status.rolloutRestart.restartedAt}") != "" &&
			replicaSets(dev) == 2
	})
	if got := decode(t, jsonpath("secret/etl-api", "{.data.passcode}")); !strings.HasPrefix(got, "dpc_") {
		t.Fatalf("revision 2 is not generated")
	}
	if jsonpath("deployment/etl", `{.spec.template.metadata.annotations.access\.dashboardops\.io/restarted-at}`) == "" {
		t.Fatal("the Deployment's pod template has no restarted-at annotation")
	}
	// A repeated restart would come from a later reconcile: the barrier waits for one after it
	// (a longer tenure applies from the next issue only), then for the deployment controller to
	// have seen the Deployment as it is, so a second restart would show as a third ReplicaSet.
	templated := jsonpath("deployment/etl", `{.spec.template.metadata.annotations.access\.dashboardops\.io/restarted-at}`)
	pc := &accessv1alpha1.Passcode{}
	pc.Namespace, pc.Name = "default", "etl-api"
	reconciledAfter(t, dev.client(), pc, `{"tenure":"31d"}`, func() int64 { return pc.Status.ObservedGeneration })
	if pc.Status.Revision != 2 {
		t.Fatalf("revision %d after the barrier, want 2", pc.Status.Revision)
	}
	waitFor(t, 30*time.Second, "the deployment controller to observe the Deployment", func() bool {
		return jsonpath("deployment/etl", "{.metadata.generation}") == jsonpath("deployment/etl", "{.status.observedGeneration}")
	})
	if got := jsonpath("deployment/etl", `{.spec.template.metadata.annotations.access\.dashboardops\.io/restarted-at}`); got != templated {
		t.Fatalf("the Deployment was restarted again (restarted-at %q, then %q)", templated, got)
	}
	if n := replicaSets(dev); n != 2 {
		t.Fatalf("%d ReplicaSets after one reset, want 2: a restart was repeated", n)
	}
}

func replicaSets(dev *devRun) int {
	out := strings.TrimSpace(dev.kubectl("get", "replicasets", "-n", "default", "-l", "app=etl", "-o", "name"))
	if out == "" {
		return 0
	}
	return len(strings.Split(out, "\n"))
}

// plugin runs the built kubectl-dashboard against the dev control plane.
func (d *devRun) plugin(args ...string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-dashboard"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(d.state, "kubeconfig"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("kubectl dashboard %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// decode reads a Secret value kubectl printed (base64); failures never quote it.
func decode(t *testing.T, b64 string) string {
	t.Helper()
	v, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal("a Secret value is not base64")
	}
	return string(v)
}
