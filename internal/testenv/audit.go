package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// This file starts a control plane whose kube-apiserver writes an audit log, so that a benchmark
// or a test can count what a manager process really sent to the API server (by verb, resource and
// user) instead of trusting the manager's own metrics.

// AuditedControlPlaneConfig says how StartAuditedControlPlane audits and who the manager is.
type AuditedControlPlaneConfig struct {
	// Policy is an audit.k8s.io/v1 Policy document (YAML); it is written next to the log.
	Policy string
	// ManagerUser is the user name (in system:masters) of the kubeconfig written for the manager,
	// so that its requests carry an identity of their own in the audit log. Default: access-operator.
	ManagerUser string
}

// AuditedControlPlane is a ControlPlane whose API server logs what its policy selects to AuditLog,
// one JSON event per line.
type AuditedControlPlane struct {
	*ControlPlane
	// AuditLog is the path of the audit log (inside the folder given to StartAuditedControlPlane).
	AuditLog string
	// ManagerUser is the user name the kubeconfig authenticates as.
	ManagerUser string
}

// mastersGroup is the group of cluster administrators.
const mastersGroup = "system:masters"

// auditLogMaxSizeMB keeps the API server from rotating the log (its default rotates at 100 MB and
// renames the old file), so that a reader can follow one file from its start.
const auditLogMaxSizeMB = "100000"

// StartAuditedControlPlane is StartControlPlane with an audit log and a manager user of the
// caller's choosing; the kubeconfig and the audit files are written into dir.
func StartAuditedControlPlane(dir string, c AuditedControlPlaneConfig) (*AuditedControlPlane, error) {
	if c.Policy == "" {
		return nil, errors.New("an audited control plane needs an audit policy")
	}
	if c.ManagerUser == "" {
		c.ManagerUser = "access-operator"
	}
	policyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(c.Policy), 0o600); err != nil {
		return nil, err
	}
	env, err := New()
	if err != nil {
		return nil, err
	}
	acp := &AuditedControlPlane{AuditLog: filepath.Join(dir, "audit.log"), ManagerUser: c.ManagerUser}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("audit-policy-file", policyPath)
	args.Set("audit-log-path", acp.AuditLog)
	args.Set("audit-log-maxsize", auditLogMaxSizeMB)
	// Blocking, not batch: a batch backend drops events when its buffer fills up, which is exactly
	// when a benchmark counts them.
	args.Set("audit-log-mode", "blocking")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	acp.ControlPlane = cp
	if err := writeUserKubeconfig(cp, c.ManagerUser); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return acp, nil
}

// writeUserKubeconfig creates the client of cp and a kubeconfig at cp.Kubeconfig for user.
func writeUserKubeconfig(cp *ControlPlane, user string) error {
	var err error
	if cp.Client, err = client.NewWithWatch(cp.Config, client.Options{Scheme: Scheme()}); err != nil {
		return err
	}
	u, err := cp.Env.ControlPlane.AddUser(envtest.User{Name: user, Groups: []string{mastersGroup}}, cp.Config)
	if err != nil {
		return fmt.Errorf("adding the user %s: %w", user, err)
	}
	kubeconfig, err := u.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600)
}
