package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

func newPasscodeCommand(parent *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passcode",
		Short: "Grant, reset, revoke and inspect API passcodes",
		Long: `Grant, reset, revoke and inspect API passcodes (Passcode objects). The operator generates each
passcode and stores it in a Secret for the workloads that mount it; this plugin never reads the
Secret, so it never shows a passcode.`,
		Aliases:           []string{"passcodes", "dpc"},
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.AddCommand(newPasscodeGrantCommand(parent), newPasscodeImportCommand(parent), newPasscodeResetCommand(parent),
		newPasscodeRevokeCommand(parent), newPasscodeStatusCommand(parent), newPasscodeListCommand(parent))
	return cmd
}

type passcodeGrantOptions struct {
	*options
	req    ops.PasscodeRequest
	dryRun string
}

func newPasscodeGrantCommand(parent *options) *cobra.Command {
	o := &passcodeGrantOptions{options: parent}
	cmd := &cobra.Command{
		Use:   "grant USER --tenure DURATION",
		Short: "Grant a user an API passcode for a tenure",
		Long: `Grant a user an API passcode valid for a tenure: creates a Passcode (named <user>-api unless
--name is given). The operator generates the passcode and writes it to the Secret (--secret-name,
default the Passcode's name) with keys passcode, email, account and expiresAt.

Durations are a whole number followed by d, h or m (30d, 12h, 45m): --tenure from 1m to 365d,
--renew-before at least 1m and shorter than the tenure (default a third of it), --grace at most
24h (default 0). With --rotation Automatic a fresh passcode replaces the current one
renew-before its expiry; with Manual (the default) it expires at the end of the tenure.

USER is the DashboardUser's name or email; it must exist.`,
		Example: `  kubectl dashboard passcode grant jane@example.com --tenure 30d
  kubectl dashboard passcode grant jane --tenure 30d --rotation Automatic --renew-before 10d --grace 1h`,
		Args:              exactArgs(1, "USER"),
		ValidArgsFunction: parent.completeUsers,
		RunE:              o.run,
	}
	addPasscodeFlags(cmd, o)
	return cmd
}

func newPasscodeImportCommand(parent *options) *cobra.Command {
	o := &passcodeGrantOptions{options: parent}
	cmd := &cobra.Command{
		Use:   "import USER --from-secret SECRET --tenure DURATION",
		Short: "Grant a user a Passcode that adopts a passcode already in use",
		Long: `Grant a user a Passcode whose first passcode is one already in use, so that workloads holding it
keep working: creates a Passcode with spec.import naming a Secret of the same project whose key
passcode holds the value (22 to 256 characters of A-Z, a-z, 0-9, '-' and '_'). The operator
copies it into the Passcode's Secret as revision 1 and leaves the source Secret as it is; the
passcode stops working at the end of the tenure like any other, and every later revision (a
rotation, a reset) is generated. This plugin never reads the value.

The other flags are those of passcode grant.`,
		Example: `  kubectl dashboard passcode import jane@example.com --from-secret legacy-dashboard-key --tenure 30d
  kubectl dashboard passcode import etl --from-secret etl-key --tenure 90d --rotation Automatic`,
		Args:              exactArgs(1, "USER"),
		ValidArgsFunction: parent.completeUsers,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.req.FromSecret == "" {
				return usageErrorf("--from-secret is required: the Secret (same project) whose key passcode holds the passcode to adopt")
			}
			return o.run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&o.req.FromSecret, "from-secret", "", "Secret in the project whose key passcode holds the passcode to adopt (required)")
	_ = cmd.RegisterFlagCompletionFunc("from-secret", cobra.NoFileCompletions)
	addPasscodeFlags(cmd, o)
	return cmd
}

// addPasscodeFlags are the flags grant and import share.
func addPasscodeFlags(cmd *cobra.Command, o *passcodeGrantOptions) {
	cmd.Flags().StringVar(&o.req.Tenure, "tenure", "", "How long the passcode is valid once issued: 1m to 365d, e.g. 30d, 12h, 45m (required)")
	cmd.Flags().StringVar(&o.req.Rotation, "rotation", "", "Rotation policy: Manual (expires at the end of the tenure; the default) or Automatic")
	cmd.Flags().StringVar(&o.req.RenewBefore, "renew-before", "", "How long before expiry the next passcode is issued (Automatic)\n"+
		"and the users page shows Expiring; default a third of the tenure")
	cmd.Flags().StringVar(&o.req.Grace, "grace", "", "How long the previous passcode keeps working after a rotation or reset, at most 24h (default 0)")
	cmd.Flags().StringVar(&o.req.Name, "name", "", "Name of the Passcode (default <user>-api)")
	cmd.Flags().StringVar(&o.req.SecretName, "secret-name", "", "Name of the Secret that receives the passcode (default the Passcode's name)")
	addDryRunFlag(cmd, &o.dryRun)
	_ = cmd.RegisterFlagCompletionFunc("rotation", cobra.FixedCompletions(
		[]string{string(accessv1alpha1.RotationManual), string(accessv1alpha1.RotationAutomatic)}, cobra.ShellCompDirectiveNoFileComp))
	for _, f := range []string{"tenure", "renew-before", "grace", "name", "secret-name"} {
		_ = cmd.RegisterFlagCompletionFunc(f, cobra.NoFileCompletions)
	}
}

func (o *passcodeGrantOptions) run(cmd *cobra.Command, args []string) error {
	dryRun, err := parseDryRun(o.dryRun)
	if err != nil {
		return err
	}
	spec, err := o.req.Spec()
	if err != nil {
		return err
	}
	c, ns, err := o.target()
	if err != nil {
		return err
	}
	res, err := ops.GrantPasscode(commandContext(cmd), c, ns, args[0], &o.req, spec, dryRun)
	if err != nil {
		return err
	}
	o.printResult(res)
	return nil
}

func newPasscodeResetCommand(o *options) *cobra.Command {
	var dryRunFlag string
	var immediate bool
	cmd := &cobra.Command{
		Use:   "reset NAME",
		Short: "Replace a passcode with a fresh one, with a fresh tenure",
		Long: fmt.Sprintf(`Ask the operator for a fresh passcode now (annotation %s set to now): it
replaces the current one (which keeps working for the grace period, if any), starts a fresh tenure,
and increments the revision. It also grants an expired or revoked passcode again. With --immediate
(annotation %s: "true") the current passcode stops working at once, grace period or not: use it
for a passcode that leaked.`, accessv1alpha1.ResetRequestedAtAnnotation, accessv1alpha1.ResetImmediateAnnotation),
		Example: `  kubectl dashboard passcode reset jane-api
  kubectl dashboard passcode reset jane-api --immediate   # it leaked: no grace period`,
		Args:              exactArgs(1, "NAME (a Passcode)"),
		ValidArgsFunction: o.completePasscodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
			if err != nil {
				return err
			}
			res, err := ops.ResetPasscode(ctx, c, ns, args[0], immediate, dryRun)
			if err != nil {
				return err
			}
			o.printResult(res)
			return nil
		},
	}
	addDryRunFlag(cmd, &dryRunFlag)
	cmd.Flags().BoolVar(&immediate, "immediate", false, "End the current passcode at once, with no grace period (it leaked)")
	return cmd
}

func newPasscodeRevokeCommand(o *options) *cobra.Command {
	var dryRunFlag string
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a passcode for good",
		Long: `Revoke a passcode (spec.revoked: true): it stops working at once and its Secret loses it. This
is final: spec.revoked cannot be set back; only a reset issues a new passcode.`,
		Example:           `  kubectl dashboard passcode revoke jane-api`,
		Args:              exactArgs(1, "NAME (a Passcode)"),
		ValidArgsFunction: o.completePasscodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
			if err != nil {
				return err
			}
			res, err := ops.RevokePasscode(ctx, c, ns, args[0], dryRun)
			if err != nil {
				return err
			}
			o.printResult(res)
			return nil
		},
	}
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}

func newPasscodeStatusCommand(o *options) *cobra.Command {
	pf := newPrintFlags("")
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a passcode's state (never the passcode)",
		Long: `Show a passcode's phase, user, times, revision, Secret name and Ready condition. The passcode
itself is never shown: this plugin does not read Secrets.

Output flags are kubectl's: -o json or yaml print the Passcode as it is (its status keeps the
SHA-256 hash of the passcode, as kubectl get shows it, never the passcode), -o name prints
passcode/NAME, -o wide the row of passcode list -o wide, and jsonpath, go-template and
custom-columns work as with kubectl get.`,
		Example: `  kubectl dashboard passcode status jane-api
  kubectl dashboard passcode status jane-api -o yaml
  kubectl dashboard passcode status jane-api -o jsonpath='{.status.expiresAt}'`,
		Args:              exactArgs(1, "NAME (a Passcode)"),
		ValidArgsFunction: o.completePasscodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := pf.printer(false)
			if err != nil {
				return err
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			pc, err := ops.GetPasscode(commandContext(cmd), c, ns, args[0])
			if err != nil {
				return err
			}
			if pf.output == "" {
				return o.describePasscode(pc)
			}
			return pr.printObject(o.streams.Out, pc, passcodeTable)
		},
	}
	pf.addFlags(cmd)
	return cmd
}

func newPasscodeListCommand(o *options) *cobra.Command {
	lf := &listFlags{}
	pf := newPrintFlags("")
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "get"},
		Short:   "List passcodes: Passcode, User, Status, Expires, Renews, Revision, Last Used",
		Long: `List the passcodes of a project (Passcode objects), sorted by name: PASSCODE, USER, STATUS,
EXPIRES, RENEWS, REVISION, LAST USED; -o wide adds ROTATION, TENURE, SECRET, REVOKED, READY and
AGE, and -A a first column NAMESPACE. The passcodes themselves are never shown.

Output flags are kubectl's, as with users list.`,
		Example: `  kubectl dashboard passcode list
  kubectl dashboard passcode list -A -o wide
  kubectl dashboard passcode list -o name`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := pf.printer(lf.allNamespaces)
			if err != nil {
				return err
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			opts, err := lf.options(ns)
			if err != nil {
				return err
			}
			passcodes, err := ops.ListPasscodes(commandContext(cmd), c, opts...)
			if err != nil {
				return err
			}
			if len(passcodes) == 0 && pr.human() {
				o.noneFound("passcodes", ns, lf)
				return nil
			}
			objs := make([]client.Object, len(passcodes))
			for i := range passcodes {
				objs[i] = &passcodes[i]
			}
			return pr.printList(o.streams.Out, objs, passcodeTable)
		},
	}
	lf.addFlags(cmd, "List the passcodes of every project (namespace), with a first column NAMESPACE")
	pf.addFlags(cmd)
	return cmd
}

// describePasscode writes pc's state (ops.PasscodeStatus) as aligned "Field: value" lines, as
// kubectl describe does.
func (o *options) describePasscode(pc *accessv1alpha1.Passcode) error {
	tw := printers.GetNewTabWriter(o.streams.Out)
	for _, l := range ops.PasscodeStatus(pc) {
		if _, err := fmt.Fprintf(tw, "%s:\t%s\n", l[0], tableCell(l[1])); err != nil {
			return err
		}
	}
	return tw.Flush()
}
