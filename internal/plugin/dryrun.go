package plugin

import (
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DryRun is kubectl's --dry-run strategy.
type DryRun string

// The values of --dry-run.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
	// dryRunUnset is what a bare --dry-run gives; like kubectl, it is refused.
	dryRunUnset = "unchanged"
)

// addDryRunFlag adds --dry-run to a command that writes.
func addDryRunFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVar(target, "dry-run", string(DryRunNone),
		`Must be "none", "server", or "client". If client strategy, only print what would be done, without sending it. `+
			`If server strategy, submit the request with dryRun=All: the API server validates it and stores nothing.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = dryRunUnset
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions(
		[]string{string(DryRunNone), string(DryRunClient), string(DryRunServer)}, cobra.ShellCompDirectiveNoFileComp))
}

// parseDryRun checks the value of --dry-run.
func parseDryRun(s string) (DryRun, error) {
	switch DryRun(s) {
	case DryRunNone, DryRunClient, DryRunServer:
		return DryRun(s), nil
	}
	if s == dryRunUnset {
		return "", usageErrorf(`--dry-run flag without a value was specified. A value must be set: "none", "server", or "client"`)
	}
	return "", usageErrorf(`invalid --dry-run %q: must be "none", "server", or "client"`, s)
}

// suffix is what output lines end with: "", " (dry run)" or " (server dry run)", as kubectl says.
func (d DryRun) suffix() string {
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
