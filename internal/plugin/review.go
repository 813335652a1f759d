package plugin

import (
	"time"

	"github.com/spf13/cobra"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

func newReviewCommand(parent *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Decide in an access review and export its evidence",
		Long: `An AccessReview asks reviewers to confirm who keeps access to a dashboard project. It records
every user when it is created; reviewers decide Keep or Revoke per user; at its deadline the users
decided Revoke, and those nobody decided about when its defaultDecision is Revoke (the default),
lose their access. Create reviews with kubectl apply (see docs/governance.md); list them with
kubectl get accessreviews (arev).`,
		Aliases:           []string{"reviews", "arev"},
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.AddCommand(newReviewDecideCommand(parent), newReviewExportCommand(parent))
	return cmd
}

func newReviewDecideCommand(o *options) *cobra.Command {
	var (
		keep, revoke bool
		reason       string
		dryRunFlag   string
	)
	cmd := &cobra.Command{
		Use:   "decide REVIEW EMAIL... --keep|--revoke [--reason TEXT]",
		Short: "Record Keep or Revoke for users of an access review, as you",
		Long: `Record a decision for one or more users of an open access review, in its spec.decisions, with
who decided (your Kubernetes user name, as the API server authenticates you) and when. A user is
named by email (or DashboardUser name) and must be in the review's snapshot. Deciding again for
the same user replaces the earlier decision. Nothing changes until the deadline.`,
		Example: `  kubectl dashboard review decide q4-2026 jane@example.com omar@example.com --keep
  kubectl dashboard review decide q4-2026 bob@example.com --revoke --reason "left the team"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErrorf("%s expects REVIEW and at least one EMAIL, got %d argument(s)\nRun '%s --help' for usage.",
					cmd.CommandPath(), len(args), cmd.CommandPath())
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keep == revoke {
				return usageErrorf("give exactly one of --keep or --revoke")
			}
			d := ops.Decision{Users: args[1:], Decision: accessv1alpha1.ReviewKeep, Reason: reason}
			if revoke {
				d.Decision = accessv1alpha1.ReviewRevoke
			}
			if err := ops.CheckDecision(d); err != nil {
				return err
			}
			ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
			if err != nil {
				return err
			}
			if d.By, err = ops.WhoAmI(ctx, c); err != nil {
				return err
			}
			res, err := ops.DecideReview(ctx, c, ns, args[0], d, time.Now(), dryRun)
			o.printResult(res)
			return err
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "The users keep their access")
	cmd.Flags().BoolVar(&revoke, "revoke", false, "The users lose their access at the review's deadline")
	cmd.Flags().StringVar(&reason, "reason", "", "Why, for the auditors (at most 512 characters)")
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}

func newReviewExportCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export REVIEW -o csv",
		Short: "Write an access review's evidence as CSV: every user, decision, who, when, why, outcome, and the changes since the previous review",
		Long: `Write the evidence auditors ask for: one row per reviewed user (user, name, email, role, status,
last login, last passcode use, decision, decided by, decided at, reason, outcome), then, after an
empty line, what changed since the previous completed review (users added, removed, role changes).
An open review shows the decisions so far; a completed one what was carried out.`,
		Example:           `  kubectl dashboard review export q4-2026 -o csv > q4-2026-access-review.csv`,
		Args:              exactArgs(1, "REVIEW"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "csv" {
				return usageErrorf("-o/--output %q: the evidence is written as csv (-o csv)", output)
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			return ops.ExportReview(commandContext(cmd), c, ns, args[0], o.streams.Out)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "csv", "Output format: csv")
	return cmd
}
