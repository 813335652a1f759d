package plugin

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
)

// formatCSV is the default format of `users export`: the dashboard's download.
const formatCSV = "csv"

func newUsersCommand(parent *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "List, export and edit dashboard users",
		Long: `List, export and edit the users of a dashboard project (DashboardUser objects).

USER is a DashboardUser's name, or its email (anything with an '@' is looked up by email).
Edits are JSON merge patches of the one field they change, so fields kept in a GitOps
repository are left alone.`,
		Aliases:           []string{"user", "du"},
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.AddCommand(
		newUsersListCommand(parent),
		newUsersExportCommand(parent),
		newSetRoleCommand(parent),
		newAccessCommand(parent, accessv1alpha1.AccessRevoked),
		newAccessCommand(parent, accessv1alpha1.AccessGranted),
		newResendInviteCommand(parent),
	)
	return cmd
}

// usersFlags are the flags of users list and export: -l, -A and --chunk-size.
type usersFlags struct {
	listFlags
	chunkSize int64
}

func (f *usersFlags) addFlags(cmd *cobra.Command, allNamespacesHelp string) {
	f.listFlags.addFlags(cmd, allNamespacesHelp)
	cmd.Flags().Int64Var(&f.chunkSize, "chunk-size", ops.ChunkSize,
		"Read the users in pages of this many, printing each page as it arrives (0: all in one request), as kubectl get")
}

// eachUserPage reads the users of the namespace (or of every namespace) that match the selector,
// --chunk-size at a time, and calls fn with each page as it arrives, in the API server's order
// (namespace, then name). A bad flag is a UsageError and nothing is read.
func (o *options) eachUserPage(cmd *cobra.Command, f *usersFlags, fn func([]accessv1alpha1.DashboardUser) error) (string, error) {
	if f.chunkSize < 0 {
		return "", usageErrorf("invalid --chunk-size %d: must be 0 (all in one request) or more", f.chunkSize)
	}
	c, ns, err := o.target()
	if err != nil {
		return "", err
	}
	opts, err := f.options(ns)
	if err != nil {
		return ns, err
	}
	return ns, ops.EachUserPage(commandContext(cmd), c, f.chunkSize, fn, opts...)
}

// printUsers prints the users as -o asks. A table, -o name and custom columns are printed a page at
// a time, so that 10,000 users start at once and are never all in memory (columns line up within a
// page); json, yaml and the templates print one List, so those collect the pages first. An empty
// table is a line on stderr, as with kubectl get.
func (o *options) printUsers(cmd *cobra.Command, pr *printer, f *usersFlags) error {
	n := 0
	if !pr.human() {
		var objs []client.Object
		if _, err := o.eachUserPage(cmd, f, func(users []accessv1alpha1.DashboardUser) error {
			for i := range users {
				objs = append(objs, &users[i])
			}
			return nil
		}); err != nil {
			return err
		}
		return pr.printList(o.streams.Out, objs, userTable)
	}
	tw := printers.GetNewTabWriter(o.streams.Out)
	marks := &ops.InactivityMarks{Now: time.Now()}
	c, _, err := o.target()
	if err != nil {
		return err
	}
	ns, err := o.eachUserPage(cmd, f, func(users []accessv1alpha1.DashboardUser) error {
		marks.Check(commandContext(cmd), c, users)
		objs := make([]client.Object, len(users))
		for i := range users {
			objs[i] = &users[i]
		}
		if len(objs) == 0 {
			return nil
		}
		if err := pr.printHumanPage(tw, objs, userTable, n == 0); err != nil {
			return err
		}
		n += len(objs)
		return tw.Flush()
	})
	if err != nil {
		return err
	}
	if n == 0 {
		o.noneFound("users", ns, &f.listFlags)
	}
	o.printInactivityMarks(marks.Marks)
	return nil
}

// printInactivityMarks says, after the table, which users their project's DashboardPolicy revokes
// for inactivity within its spec.inactivity.warnBefore (a login postpones it).
func (o *options) printInactivityMarks(marks []ops.InactivityMark) {
	if len(marks) == 0 {
		return
	}
	o.printf("\nTo be revoked for inactivity (DashboardPolicy spec.inactivity.revokeUsersAfter; a login postpones it):\n")
	for _, m := range marks {
		o.printf("  %s/%s (%s) at %s\n", m.Project, m.User, m.Email, m.At.UTC().Format(time.RFC3339))
	}
}

// exportCSV writes the users as the dashboard's download, a page at a time.
func (o *options) exportCSV(cmd *cobra.Command, f *usersFlags) error {
	cw, err := ops.NewCSVWriter(o.streams.Out, f.allNamespaces)
	if err != nil {
		return err
	}
	_, err = o.eachUserPage(cmd, f, func(users []accessv1alpha1.DashboardUser) error {
		rows := make([]ops.UserRow, len(users))
		for i := range users {
			rows[i] = ops.RowForUser(&users[i])
		}
		return cw.Write(rows)
	})
	return err
}

// noneFound says on stderr that a list is empty, and where.
func (o *options) noneFound(what, ns string, lf *listFlags) {
	where := fmt.Sprintf(" in project (namespace) %s", ns)
	if lf.allNamespaces {
		where = ""
	}
	if lf.selector != "" {
		where += fmt.Sprintf(" matching %q", lf.selector)
	}
	o.warnf("No %s found%s.\n", what, where)
}

func newUsersListCommand(o *options) *cobra.Command {
	lf := &usersFlags{}
	pf := newPrintFlags("")
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "get"},
		Short:   "List users: User, Name, Role, Email, User Status, Last Login, Passcode-Status",
		Long: `List the users of a project (DashboardUser objects), as the users page shows them: USER (the
object's name), NAME, ROLE, EMAIL, USER STATUS, LAST LOGIN, PASSCODE-STATUS; -o wide adds
ACCESS, READY and AGE, and -A a first column NAMESPACE. Users are read --chunk-size at a time and
each page is printed as it arrives, by project then object name (made from the email, so nearly
email order); -o json, yaml and the templates print one List.

Output flags are kubectl's: -o json or yaml print the DashboardUsers as they are, in a List
(kubectl apply -f takes it back), -o name prints dashboarduser/NAME lines, and jsonpath,
go-template and custom-columns work as with kubectl get.`,
		Example: `  kubectl dashboard users list
  kubectl dashboard users list -A -l team=sales
  kubectl dashboard users list -o wide --show-labels
  kubectl dashboard users list -o yaml > users.yaml
  kubectl dashboard users list -o jsonpath='{.items[*].spec.email}'
  kubectl dashboard users list -o custom-columns=EMAIL:.spec.email,ROLE:.spec.role --no-headers`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := pf.printer(lf.allNamespaces)
			if err != nil {
				return err
			}
			return o.printUsers(cmd, pr, lf)
		},
	}
	lf.addFlags(cmd, "List the users of every project (namespace), with a first column NAMESPACE")
	pf.addFlags(cmd)
	return cmd
}

func newUsersExportCommand(o *options) *cobra.Command {
	lf := &usersFlags{}
	pf := newPrintFlags(formatCSV, formatCSV)
	cmd := &cobra.Command{
		Use:   "export [-o csv|json|yaml|...]",
		Short: "Download the users list as CSV (the dashboard's download), or in any kubectl output format",
		Long: `Write the users list as the dashboard's download has it (-o csv, the default): columns Name, Role,
Email, User Status, Last Login, Passcode-Status (with a first column Project when
--all-namespaces), a header row and RFC 4180 quoting. Last Login is RFC 3339 in UTC, empty if the
user never logged in. Rows are written a page (--chunk-size) at a time as they are read, by project
then object name (made from the email, so nearly email order).

Every other -o is kubectl's, as with users list: -o json or yaml print the DashboardUsers as they
are, in a List; -o wide, name, jsonpath=..., go-template=..., custom-columns=... as kubectl get.`,
		Example: `  kubectl dashboard users export > users.csv
  kubectl dashboard users export -A -l team=sales > sales.csv
  kubectl dashboard users export -o yaml > users.yaml`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pr *printer
			if !pf.isExtra() {
				var err error
				if pr, err = pf.printer(lf.allNamespaces); err != nil {
					return err
				}
			}
			if pr != nil {
				return o.printUsers(cmd, pr, lf)
			}
			return o.exportCSV(cmd, lf)
		},
	}
	lf.addFlags(cmd, "Export the users of every project (namespace), with a first column Project (NAMESPACE in a table)")
	pf.addFlags(cmd)
	return cmd
}

func newSetRoleCommand(o *options) *cobra.Command {
	var (
		dryRunFlag       string
		allowMissingRole bool
		force            bool
	)
	cmd := &cobra.Command{
		Use:   "set-role USER ROLE",
		Short: "Change a user's role (Admin, Creator, Member, Approver, or a DashboardRole)",
		Long: `Change a user's role. It takes effect at once: the access server reports the new role.
USER is the DashboardUser's name or email; ROLE is a system role (Admin, Creator, Member or
Approver, spelled so) or the name of a DashboardRole of the project (kubectl dashboard roles list).
A DashboardRole that does not exist is refused unless --allow-missing-role (GitOps may create it
later; until then the user is not Ready).`,
		Example: `  kubectl dashboard users set-role jane@example.com Admin
  kubectl dashboard users set-role jane@example.com analyst`,
		Args:              exactArgs(2, "USER and ROLE"),
		ValidArgsFunction: o.completeUserThenRole,
		RunE: func(cmd *cobra.Command, args []string) error {
			dryRun, err := parseDryRun(dryRunFlag)
			if err != nil {
				return err
			}
			role, err := ParseRole(args[1])
			if err != nil {
				return asUsage(err)
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			if err := checkRole(cmd, c, ns, role, allowMissingRole); err != nil {
				return err
			}
			res, err := ops.SetRole(commandContext(cmd), c, ns, args[0], role, force, dryRun)
			if err != nil {
				return err
			}
			o.printResult(res)
			return nil
		},
	}
	addDryRunFlag(cmd, &dryRunFlag)
	addAllowMissingRoleFlag(cmd, &allowMissingRole)
	addForceAdminsFlag(cmd, &force)
	return cmd
}

// newAccessCommand is `users revoke` (access Revoked) or `users grant` (access Granted).
func newAccessCommand(o *options, access accessv1alpha1.Access) *cobra.Command {
	var (
		dryRunFlag string
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "revoke USER",
		Short: "Revoke a user's access: every passcode of the user stops working at once",
		Long: `Revoke a user's access (spec.access: Revoked), the dashboard's "Revoke access": every passcode
of the user stops working at once. Granting access again does not revive them.`,
		Example:           `  kubectl dashboard users revoke jane@example.com`,
		Args:              exactArgs(1, "USER"),
		ValidArgsFunction: o.completeUsers,
	}
	if access == accessv1alpha1.AccessGranted {
		cmd.Use = "grant USER"
		cmd.Short = "Grant a user access again (passcodes revoked meanwhile stay revoked)"
		cmd.Long = `Grant a user access again (spec.access: Granted). Passcodes revoked with the user's access stay
revoked: reset them (kubectl dashboard passcode reset NAME) or grant a new one.`
		cmd.Example = `  kubectl dashboard users grant jane@example.com`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
		if err != nil {
			return err
		}
		res, err := ops.SetAccess(ctx, c, ns, args[0], access, force, dryRun)
		if err != nil {
			return err
		}
		o.printResult(res)
		return nil
	}
	addDryRunFlag(cmd, &dryRunFlag)
	if access == accessv1alpha1.AccessRevoked {
		addForceAdminsFlag(cmd, &force)
	}
	return cmd
}

// addForceAdminsFlag adds --force: demote or revoke an Admin even below the project's
// DashboardPolicy's spec.admins.minimum.
func addForceAdminsFlag(cmd *cobra.Command, target *bool) {
	cmd.Flags().BoolVar(target, "force", false,
		"Demote or revoke an Admin even when the project is left with fewer active Admins than its DashboardPolicy's spec.admins.minimum")
}

func newResendInviteCommand(o *options) *cobra.Command {
	var dryRunFlag string
	cmd := &cobra.Command{
		Use:   "resend-invite USER",
		Short: "Send a user a fresh invite link (the previous link stops working)",
		Long: fmt.Sprintf(`Ask the operator to send a user a fresh invite, by setting the annotation
%s to now. The previous link stops working.`, accessv1alpha1.ResendInviteRequestedAtAnnotation),
		Example:           `  kubectl dashboard users resend-invite jane@example.com`,
		Args:              exactArgs(1, "USER"),
		ValidArgsFunction: o.completeUsers,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
			if err != nil {
				return err
			}
			res, err := ops.ResendInvite(ctx, c, ns, args[0], dryRun)
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
