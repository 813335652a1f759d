package ops

import "sigs.k8s.io/controller-runtime/pkg/client"

// DryRun is kubectl's --dry-run strategy.
type DryRun string

// The values of --dry-run.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// Suffix is what output lines end with: "", " (dry run)" or " (server dry run)", as kubectl says.
func (d DryRun) Suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// createOptions are the options of a Create for this strategy (never called for client).
func (d DryRun) createOptions() []client.CreateOption {
	if d == DryRunServer {
		return []client.CreateOption{client.DryRunAll}
	}
	return nil
}

// patchOptions are the options of a Patch for this strategy (never called for client).
func (d DryRun) patchOptions() []client.PatchOption {
	if d == DryRunServer {
		return []client.PatchOption{client.DryRunAll}
	}
	return nil
}
