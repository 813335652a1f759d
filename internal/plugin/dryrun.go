package plugin

import (
	"github.com/spf13/cobra"

	"github.com/dashboardops/access-operator/internal/ops"
)

// DryRun is kubectl's --dry-run strategy.
type DryRun = ops.DryRun

// The values of --dry-run.
const (
	DryRunNone   = ops.DryRunNone
	DryRunClient = ops.DryRunClient
	DryRunServer = ops.DryRunServer
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
