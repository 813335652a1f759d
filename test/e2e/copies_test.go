package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copiesManifest is a consenting namespace, a user and a Passcode that copies its Secret there.
const copiesManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: consumers
  annotations:
    access.dashboardops.io/accept-passcodes-from: "default, other"
---
apiVersion: access.dashboardops.io/v1alpha1
kind: DashboardUser
metadata: {name: copy-user, namespace: default}
spec: {email: copy@example.com, role: Member}
---
apiVersion: access.dashboardops.io/v1alpha1
kind: Passcode
metadata: {name: copied, namespace: default}
spec:
  userRef: {name: copy-user}
  tenure: 1h
  secretTemplate:
    data: {API_KEY: "Bearer {{ .Passcode }}"}
  secretCopies:
  - namespace: consumers
  - namespace: consumers
    name: copied-too
`

// TestCopiesThroughKubectl drives spec.secretCopies as a user would, through the built manager
// and kubectl: apply a consenting namespace and a Passcode with copies, read the copies, check the
// access server accepts the passcode for its own account only, and delete the Passcode.
func TestCopiesThroughKubectl(t *testing.T) {
	t.Parallel()
	accessPort := freePort(t)
	dev := startDev(t, t.TempDir(), fmt.Sprintf("--access-bind-address=127.0.0.1:%d", accessPort))
	defer dev.interrupt()
	manifest := filepath.Join(t.TempDir(), "copies.yaml")
	if err := os.WriteFile(manifest, []byte(copiesManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	dev.kubectl("apply", "-f", manifest)

	explain := dev.kubectl("explain", "passcodes.spec.secretCopies")
	for _, want := range []string{"accept-passcodes-from", "namespace", "name"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain passcodes.spec.secretCopies does not mention %q:\n%s", want, explain)
		}
	}

	jsonpath := func(args ...string) string {
		out, err := dev.kubectlErr(args...)
		if err != nil {
			return ""
		}
		return out
	}
	waitFor(t, 30*time.Second, "both copies to hold the primary's passcode", func() bool {
		p := jsonpath("get", "secret", "copied", "-n", "default", "-o", "jsonpath={.data.API_KEY}")
		return p != "" && jsonpath("get", "secret", "copied", "-n", "consumers", "-o", "jsonpath={.data.API_KEY}") == p &&
			jsonpath("get", "secret", "copied-too", "-n", "consumers", "-o", "jsonpath={.data.API_KEY}") == p
	})
	status := dev.kubectl("get", "passcode", "copied", "-o", `jsonpath={.status.conditions[?(@.type=="SecretCopies")].status}`)
	if status != "True" {
		t.Errorf("SecretCopies condition %q, want True", status)
	}

	code := dev.kubectl("get", "secret", "copied", "-n", "consumers", "-o", "jsonpath={.data.passcode}")
	value := decodeBase64(t, code)
	hc := &http.Client{Timeout: 5 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", accessPort)
	for account, want := range map[string]int{"default": http.StatusOK, "consumers": http.StatusUnauthorized} {
		if got, _, err := verifyPasscode(context.Background(), hc, base, account, value); err != nil || got != want {
			t.Errorf("verify for account %s: %d %v, want %d", account, got, err, want)
		}
	}

	dev.kubectl("delete", "passcode", "copied", "--wait=true", "--timeout=30s")
	left := dev.kubectl("get", "secrets", "-n", "consumers", "-l", "access.dashboardops.io/copy-of-namespace=default", "-o", "name")
	if strings.TrimSpace(left) != "" {
		t.Fatalf("copies left after kubectl delete passcode: %s", left)
	}
}

// kubectlErr is kubectl that returns its failure (a Secret not there yet) instead of failing the test.
func (d *devRun) kubectlErr(args ...string) (string, error) {
	cmd, cancel := d.kubectlCommand(args...)
	defer cancel()
	out, err := cmd.Output()
	return string(out), err
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("not a base64 passcode: %q %v", s, err)
	}
	return string(b)
}
