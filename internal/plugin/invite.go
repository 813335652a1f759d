package plugin

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/dashboardops/access-operator/internal/ops"
)

const inviteLong = `Invite users to the dashboard project by email, with a role: each becomes a DashboardUser, and
the operator sends the invite.

At most 50 users can be invited in one call. Emails must be lower case valid addresses; roles are
Admin, Creator, Member, Approver, or a DashboardRole of the project (kubectl dashboard roles list).
If any email or role is bad, or there are more than 50 users, the whole call is refused (exit
code 2), every bad argument or line is named, and nothing is created. A DashboardRole that does
not exist in the project is refused too (exit code 1), unless --allow-missing-role.

--from-file reads one user per line: an email alone, or CSV "email,role,name" (role and name
optional; quote a name that has a comma). Lines starting with # and blank lines are ignored, and
so is a header line starting with "email". --role is the role of every user without one.

The DashboardUser's name is derived from the email: the address made DNS-safe, plus the first 8
hex characters of its SHA-256 (jane.doe@example.com becomes jane-doe-example-com-<hash>). A user
already invited (same name, or the same email in the project) is reported and left alone.`

type inviteOptions struct {
	*options
	role     string
	fromFile string
	dryRun   string
	// allowMissingRole skips the check that custom roles exist.
	allowMissingRole bool
}

func newInviteCommand(parent *options) *cobra.Command {
	o := &inviteOptions{options: parent}
	cmd := &cobra.Command{
		Use:   "invite --role ROLE EMAIL... | --from-file FILE",
		Short: "Invite up to 50 users by email, with a role",
		Long:  inviteLong,
		Example: `  kubectl dashboard invite --role Member jane@example.com omar@example.com
  kubectl dashboard invite --role Member --from-file users.csv   # lines: email[,role[,name]]
  kubectl dashboard invite -n marketing --role Admin --dry-run=client ana@example.com`,
		Args: cobra.ArbitraryArgs,
		RunE: o.run,
		// Emails are not completed: there is nothing to list them from.
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVar(&o.role, "role", "",
		"Role of the invited users (Admin, Creator, Member, Approver, or a DashboardRole of the project); the default for --from-file lines without one")
	cmd.Flags().StringVarP(&o.fromFile, "from-file", "f", "", "File of users to invite: one email, or CSV email,role,name, per line")
	addDryRunFlag(cmd, &o.dryRun)
	addAllowMissingRoleFlag(cmd, &o.allowMissingRole)
	_ = cmd.RegisterFlagCompletionFunc("role", o.completeRoles)
	return cmd
}

// invitees reads and validates the arguments and --from-file: every problem at once.
func (o *inviteOptions) invitees(args []string) ([]Invitee, error) {
	entries := ops.EntriesFromArgs(args)
	if o.fromFile != "" {
		f, err := os.Open(o.fromFile)
		if err != nil {
			return nil, usageErrorf("--from-file: %v", err)
		}
		defer func() { _ = f.Close() }()
		fromFile, err := ops.EntriesFromFile(f, o.fromFile)
		if err != nil {
			return nil, usageErrorf("--from-file: %v", err)
		}
		entries = append(entries, fromFile...)
	}
	if len(entries) == 0 {
		return nil, usageErrorf("no one to invite: give EMAIL arguments or --from-file\nRun 'kubectl dashboard invite --help' for usage.")
	}
	return ops.ValidateInvitees(entries, o.role)
}

func (o *inviteOptions) run(cmd *cobra.Command, args []string) error {
	dryRun, err := parseDryRun(o.dryRun)
	if err != nil {
		return err
	}
	invitees, err := o.invitees(args)
	if err != nil {
		return err
	}
	c, ns, err := o.target()
	if err != nil {
		return err
	}
	if !o.allowMissingRole {
		if err := missingRoleHint(ops.CheckInviteeRoles(commandContext(cmd), c, ns, invitees)); err != nil {
			return err
		}
	}
	res, err := ops.Invite(commandContext(cmd), c, ns, invitees, dryRun)
	o.printResult(res.Result)
	return err
}
