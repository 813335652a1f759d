package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// Output formats of `users export`.
const (
	formatCSV  = "csv"
	formatJSON = "json"
)

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

// listRows reads the users of the namespace (or of every namespace) as sorted rows.
func (o *options) listRows(cmd *cobra.Command, allNamespaces bool) ([]UserRow, string, error) {
	c, ns, err := o.target()
	if err != nil {
		return nil, "", err
	}
	var opts []client.ListOption
	if !allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	var list accessv1alpha1.DashboardUserList
	if err := c.List(commandContext(cmd), &list, opts...); err != nil {
		return nil, ns, fmt.Errorf("listing users: %w", err)
	}
	rows := make([]UserRow, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, RowForUser(&list.Items[i]))
	}
	SortRows(rows)
	return rows, ns, nil
}

func newUsersListCommand(o *options) *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "get"},
		Short:   "List users: Name, Role, Email, User Status, Last Login, Passcode-Status",
		Example: `  kubectl dashboard users list
  kubectl dashboard users list -A`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, ns, err := o.listRows(cmd, allNamespaces)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				if allNamespaces {
					o.warnf("No users found.\n")
				} else {
					o.warnf("No users found in project (namespace) %s.\n", ns)
				}
				return nil
			}
			return RenderTable(o.streams.Out, rows, allNamespaces)
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "List the users of every project (namespace), with a PROJECT column")
	return cmd
}

func newUsersExportCommand(o *options) *cobra.Command {
	var allNamespaces bool
	var format string
	cmd := &cobra.Command{
		Use:   "export [-o csv|json]",
		Short: "Download the users list as CSV or JSON",
		Long: `Write the users list as the dashboard's download has it: columns Name, Role, Email, User Status,
Last Login, Passcode-Status (with a first column Project when --all-namespaces), rows sorted by
project then email. CSV (the default) has a header row and RFC 4180 quoting; JSON is an array of
objects with exactly those keys. Last Login is RFC 3339 in UTC, empty if the user never logged in.`,
		Example: `  kubectl dashboard users export > users.csv
  kubectl dashboard users export -o json -A`,
		Args:              exactArgs(0, "no arguments"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != formatCSV && format != formatJSON {
				return usageErrorf("invalid --output %q: must be csv or json", format)
			}
			rows, _, err := o.listRows(cmd, allNamespaces)
			if err != nil {
				return err
			}
			if format == formatJSON {
				return RenderJSON(o.streams.Out, rows, allNamespaces)
			}
			return RenderCSV(o.streams.Out, rows, allNamespaces)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", formatCSV, "Output format: csv or json")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "Export the users of every project (namespace), with a first column Project")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{formatCSV, formatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newSetRoleCommand(o *options) *cobra.Command {
	var dryRunFlag string
	cmd := &cobra.Command{
		Use:   "set-role USER ROLE",
		Short: "Change a user's role (Admin, Creator, Member, Approver)",
		Long: `Change a user's role. It takes effect at once: the access server reports the new role.
USER is the DashboardUser's name or email; ROLE is Admin, Creator, Member or Approver.`,
		Example:           `  kubectl dashboard users set-role jane@example.com Admin`,
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
			ctx := commandContext(cmd)
			u, err := getUser(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			old := u.Spec.Role
			if old == role {
				o.printf("dashboarduser/%s role is already %s (no change)\n", u.Name, role)
				return nil
			}
			if err := applyPatch(ctx, c, u, specPatch("role", role), dryRun); err != nil {
				return fmt.Errorf("changing the role of dashboarduser/%s: %w", u.Name, err)
			}
			o.printf("dashboarduser/%s role changed from %s to %s%s\n", u.Name, old, role, dryRun.suffix())
			return nil
		},
	}
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}

// newAccessCommand is `users revoke` (access Revoked) or `users grant` (access Granted).
func newAccessCommand(o *options, access accessv1alpha1.Access) *cobra.Command {
	var dryRunFlag string
	cmd := &cobra.Command{
		Use:   "revoke USER",
		Short: "Revoke a user's access: every passcode of the user stops working at once",
		Long: `Revoke a user's access (spec.access: Revoked), the dashboard's "Revoke access": every passcode
of the user stops working at once. Granting access again does not revive them.`,
		Example:           `  kubectl dashboard users revoke jane@example.com`,
		Args:              exactArgs(1, "USER"),
		ValidArgsFunction: o.completeUsers,
	}
	verb := "revoked"
	if access == accessv1alpha1.AccessGranted {
		cmd.Use = "grant USER"
		cmd.Short = "Grant a user access again (passcodes revoked meanwhile stay revoked)"
		cmd.Long = `Grant a user access again (spec.access: Granted). Passcodes revoked with the user's access stay
revoked: reset them (kubectl dashboard passcode reset NAME) or grant a new one.`
		cmd.Example = `  kubectl dashboard users grant jane@example.com`
		verb = "granted"
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, c, ns, args[0])
		if err != nil {
			return err
		}
		old := u.Spec.Access
		if old == "" {
			old = accessv1alpha1.AccessGranted
		}
		if old == access && u.Spec.Access != "" {
			o.printf("dashboarduser/%s access is already %s (no change)\n", u.Name, access)
			return nil
		}
		if err := applyPatch(ctx, c, u, specPatch("access", access), dryRun); err != nil {
			return fmt.Errorf("setting the access of dashboarduser/%s to %s: %w", u.Name, access, err)
		}
		o.printf("dashboarduser/%s access %s (was %s)%s\n", u.Name, verb, old, dryRun.suffix())
		if access == accessv1alpha1.AccessRevoked {
			o.printf("Every passcode of %s stops working at once; granting access again does not revive them.\n", u.Spec.Email)
		} else if old == accessv1alpha1.AccessRevoked {
			o.printf("Passcodes revoked with the access stay revoked: `kubectl dashboard passcode reset NAME` issues a fresh one.\n")
		}
		return nil
	}
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
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
			u, err := getUser(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			now := requestTime()
			if err := applyPatch(ctx, c, u, annotationPatch(accessv1alpha1.ResendInviteRequestedAtAnnotation, now), dryRun); err != nil {
				return fmt.Errorf("requesting a new invite for dashboarduser/%s: %w", u.Name, err)
			}
			o.printf("dashboarduser/%s invite resend requested at %s%s\n", u.Name, now, dryRun.suffix())
			switch {
			case u.Spec.Access == accessv1alpha1.AccessRevoked:
				o.warnf("Warning: the access of %s is Revoked: the operator sends no invite until `kubectl dashboard users grant %s`.\n", u.Spec.Email, u.Name)
			case u.Status.Phase == accessv1alpha1.UserActive || (u.Status.Invite != nil && u.Status.Invite.AcceptedAt != nil):
				o.warnf("Warning: %s already accepted an invite: the operator sends no other.\n", u.Spec.Email)
			}
			return nil
		},
	}
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}
