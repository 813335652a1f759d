package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func runCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// unreachableKubeconfig points at a port nothing listens on, so that no test here needs a cluster.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: project-a}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExitCodes(t *testing.T) {
	kubeconfig := unreachableKubeconfig(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		noStdout   bool
		errorLabel bool // stderr starts with "error: "
	}{
		{name: "help", args: []string{"--help"}, code: 0, stdout: "Exit codes:"},
		{name: "help lists the commands", args: []string{"--help"}, code: 0, stdout: "passcode"},
		{name: "no arguments prints help", args: nil, code: 0, stdout: "kubectl dashboard"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, errorLabel: true},
		{name: "unknown subcommand", args: []string{"users", "lst"}, code: 2, stderr: "Did you mean this?", errorLabel: true},
		{name: "unknown flag", args: []string{"users", "list", "--frob"}, code: 2, stderr: "unknown flag: --frob", errorLabel: true},
		{name: "bad email, before any API call", args: []string{"invite", "--kubeconfig", kubeconfig, "--role", "Member", "Jane@x.io"},
			code: 2, stderr: "must be lower case", noStdout: true, errorLabel: true},
		{name: "bad role", args: []string{"invite", "--kubeconfig", kubeconfig, "--role", "Owner", "jane@x.io"}, code: 2, stderr: `invalid role "Owner"`, errorLabel: true},
		{name: "missing argument", args: []string{"users", "revoke"}, code: 2, stderr: "expects USER", errorLabel: true},
		{name: "bad tenure", args: []string{"passcode", "grant", "jane", "--tenure", "400d", "--kubeconfig", kubeconfig}, code: 2, stderr: "--tenure", errorLabel: true},
		{name: "bare --dry-run", args: []string{"users", "revoke", "jane", "--dry-run"}, code: 2, stderr: "--dry-run", errorLabel: true},
		{name: "help lists roles", args: []string{"--help"}, code: 0, stdout: "roles"},
		{name: "role named as a system role", args: []string{"roles", "create", "Admin", "-p", "reports.read", "--kubeconfig", kubeconfig},
			code: 2, stderr: "the system role Admin is built in", noStdout: true, errorLabel: true},
		{name: "unknown permission", args: []string{"roles", "create", "analyst", "-p", "Reports.Read", "--kubeconfig", kubeconfig},
			code: 2, stderr: "--permission: unknown permission \"Reports.Read\" (did you mean reports.read?)", errorLabel: true},
		{name: "deleting a system role", args: []string{"roles", "delete", "Member", "--kubeconfig", kubeconfig}, code: 2,
			stderr: "the system role Member is built in", errorLabel: true},
		{name: "roles create without NAME", args: []string{"roles", "create", "-p", "reports.read"}, code: 2, stderr: "expects NAME", errorLabel: true},
		{name: "roles list, unreachable", args: []string{"roles", "list", "--kubeconfig", kubeconfig, "--request-timeout", "5s"}, code: 1, errorLabel: true},
		{name: "unreachable API server", args: []string{"users", "list", "--kubeconfig", kubeconfig, "--request-timeout", "5s"}, code: 1, errorLabel: true},
		{name: "missing kubeconfig", args: []string{"users", "list", "--kubeconfig", filepath.Join(t.TempDir(), "nope")}, code: 1, stderr: "kubeconfig", errorLabel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCapture(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.stderr)
			}
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout must be empty, got %q", stdout)
			}
			if tt.errorLabel != strings.HasPrefix(stderr, "error: ") {
				t.Errorf("stderr %q: starts with \"error: \" = %v, want %v", stderr, !tt.errorLabel, tt.errorLabel)
			}
		})
	}
}
