package plugin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/ops"
	"github.com/dashboardops/access-operator/internal/roles"
	"github.com/dashboardops/access-operator/internal/users"
)

// The TYPE column's values.
const (
	roleBuiltIn = "built-in"
	roleCustom  = "custom"
)

// Names users and passcode commands spell out too.
const (
	useList          = "list"
	columnAge        = "Age"
	readyDescription = "The Ready condition: status (reason)"
	ageDescription   = "Since metadata.creationTimestamp"
	aliasGet         = "get"
)

func newRolesCommand(parent *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "List, create and delete dashboard roles (the system roles and DashboardRoles)",
		Long: fmt.Sprintf(`List, create and delete the roles of a dashboard project: the four system roles (%s),
built in and the same in every project, and custom roles (DashboardRole objects) with permissions
of your choice. A user's role (users set-role, invite --role) names either.

Permissions: %s.`, strings.Join(roles.SystemNames, ", "), strings.Join(roles.KnownNames(), ", ")),
		Aliases:           []string{"role", "dr"},
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.AddCommand(newRolesListCommand(parent), newRolesCreateCommand(parent), newRolesDeleteCommand(parent), newRolesDescribeCommand(parent))
	return cmd
}

// roleTable is the table of `roles list`. USERS counts the users whose spec.role names the role,
// from counts (namespace → role → users) when the users could be listed, else status.users; a
// system role has no status, so it is <unknown> then.
func roleTable(counts map[string]map[string]int) tableSpec {
	return tableSpec{
		columns: []metav1.TableColumnDefinition{
			{Name: "Role", Type: cellString, Format: cellName, Description: "The role's name: what spec.role of a DashboardUser names"},
			{Name: "Type", Type: cellString, Description: "built-in (a system role) or custom (a DashboardRole)"},
			{Name: "Description", Type: cellString, Description: "spec.description"},
			{Name: "Permissions", Type: cellString, Description: "spec.permissions"},
			{Name: "Users", Type: cellString, Description: "The users whose spec.role names this role"},
			{Name: columnReady, Type: cellString, Priority: 1, Description: readyDescription},
			{Name: columnAge, Type: cellString, Description: ageDescription},
		},
		cells: func(obj runtime.Object) []any {
			r, ok := obj.(*accessv1alpha1.DashboardRole)
			if !ok {
				return nil
			}
			perms := make([]string, len(r.Spec.Permissions))
			for i, p := range r.Spec.Permissions {
				perms[i] = string(p)
			}
			permCell := strings.Join(perms, ",")
			if n := len(roles.Normalize(perms)); n == len(roles.Vocabulary) {
				permCell = fmt.Sprintf("all (%d)", n) // the whole vocabulary would take a line of its own
			}
			users := "<unknown>"
			switch {
			case counts != nil:
				users = strconv.Itoa(counts[r.Namespace][r.Name])
			case !roles.IsSystem(r.Name):
				users = strconv.Itoa(int(r.Status.Users))
			}
			if roles.IsSystem(r.Name) {
				return []any{r.Name, roleBuiltIn, r.Spec.Description, permCell, users, "-", "-"}
			}
			return []any{r.Name, roleCustom, orNone(r.Spec.Description, "<none>"), orNone(permCell, "<none>"), users,
				readyCell(r.Status.Conditions), age(r.CreationTimestamp)}
		},
	}
}

func newRolesListCommand(o *options) *cobra.Command {
	lf := &listFlags{}
	pf := newPrintFlags("")
	cmd := &cobra.Command{
		Use:     useList,
		Aliases: []string{"ls", aliasGet},
		Short:   "List the system roles and the project's DashboardRoles",
		Long: `List the roles users of a project can have: ROLE, TYPE (built-in for the system roles, custom for
DashboardRoles), DESCRIPTION, PERMISSIONS ("all (13)" for a role with every permission), USERS
(how many users name the role) and AGE; -o wide adds READY.

The system roles are built in, not objects: they are shown in table output only (the default,
-o wide and -o custom-columns), and not with -A or -l. Every other -o is kubectl's and prints
only the DashboardRoles: -o json or yaml a List of them as they are (kubectl apply -f takes it
back), -o name dashboardrole/NAME lines, jsonpath and go-template over that List.`,
		Example: `  kubectl dashboard roles list
  kubectl dashboard roles list -A
  kubectl dashboard roles list -o yaml > roles.yaml
  kubectl dashboard roles list -o jsonpath='{.items[*].metadata.name}'`,
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
			ctx := commandContext(cmd)
			where := ns
			if lf.allNamespaces {
				where = "" // an RBAC refusal then names no project
			}
			custom, err := ops.ListRoles(ctx, c, where, opts...)
			if err != nil {
				return err
			}
			table := pr.resource == nil && !pr.names
			var items []accessv1alpha1.DashboardRole
			if table && !lf.allNamespaces && lf.selector == "" {
				items = ops.SystemRoleObjects(ns)
			}
			items = append(items, custom...)
			if len(items) == 0 && pr.human() {
				o.noneFound("dashboard roles", ns, lf)
				return nil
			}
			var counts map[string]map[string]int
			if table {
				usersIn := []client.ListOption{client.InNamespace(ns)}
				if lf.allNamespaces {
					usersIn = nil
				}
				// Best effort: without the right to list users, USERS falls back to status.users.
				counts, _ = ops.RoleCounts(ctx, c, usersIn...)
			}
			objs := make([]client.Object, len(items))
			for i := range items {
				objs[i] = &items[i]
			}
			return pr.printList(o.streams.Out, objs, roleTable(counts))
		},
	}
	lf.addFlags(cmd, "List the DashboardRoles of every project (namespace), with a first column NAMESPACE (the system roles are left out)")
	pf.addFlags(cmd)
	return cmd
}

func newRolesCreateCommand(o *options) *cobra.Command {
	var (
		permissions []string
		description string
		dryRunFlag  string
	)
	cmd := &cobra.Command{
		Use:   "create NAME --permission PERMISSION... [--description TEXT]",
		Short: "Create a custom role (a DashboardRole) with the permissions given",
		Long: fmt.Sprintf(`Create a DashboardRole: a custom role users can then have (users set-role USER NAME, invite
--role NAME). NAME is at most 63 lower-case letters, digits and '-', and not a system role's name
(%s are built in) in any case.

--permission is repeated, or takes a comma-separated list; at least one is needed. Permissions:
%s.

A role that exists already is not changed: edit it with kubectl edit dashboardrole NAME.`,
			strings.Join(roles.SystemNames, ", "), strings.Join(roles.KnownNames(), ", ")),
		Example: `  kubectl dashboard roles create analyst --permission reports.read --permission exports.download
  kubectl dashboard roles create editor --permission reports.read,reports.write --description "writes reports"
  kubectl dashboard roles create analyst --permission reports.read --dry-run=server`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			dryRun, err := parseDryRun(dryRunFlag)
			if err != nil {
				return err
			}
			if err := ops.ValidateRoleName(args[0]); err != nil {
				return usageErrorf("NAME: %v", err)
			}
			perms, err := ops.ParsePermissions(permissions)
			if err != nil {
				return usageErrorf("--permission: %v", err)
			}
			if err := ops.ValidateRoleDescription(description); err != nil {
				return usageErrorf("--description: %v", err)
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			res, err := ops.CreateRole(commandContext(cmd), c, ns, ops.NewRole{Name: args[0], Description: description, Permissions: perms}, dryRun)
			if err != nil {
				return err
			}
			o.printResult(res)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&permissions, "permission", "p", nil, "A permission of the role; repeat it, or give a comma-separated list")
	cmd.Flags().StringVar(&description, "description", "", "What the role is for (at most 256 characters, one line)")
	_ = cmd.RegisterFlagCompletionFunc("permission", cobra.FixedCompletions(roles.KnownNames(), cobra.ShellCompDirectiveNoFileComp))
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}

func newRolesDeleteCommand(o *options) *cobra.Command {
	var (
		force      bool
		dryRunFlag string
	)
	cmd := &cobra.Command{
		Use:   "delete NAME [--force]",
		Short: "Delete a custom role; refused while users name it, unless --force",
		Long: `Delete a DashboardRole. Users whose role names it lose its permissions and stop being Ready, so
while any user names the role the command refuses (exit code 1) and names them; --force deletes
it anyway. The system roles are built in and cannot be deleted (exit code 2).`,
		Example: `  kubectl dashboard roles delete analyst
  kubectl dashboard roles delete analyst --force`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: o.completeCustomRoles,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, dryRun, err := o.writeTarget(cmd, dryRunFlag)
			if err != nil {
				return err
			}
			res, err := ops.DeleteRole(ctx, c, ns, args[0], force, dryRun)
			o.printResult(res)
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "Delete the role even though users name it (they stop being Ready)")
	addDryRunFlag(cmd, &dryRunFlag)
	return cmd
}

func newRolesDescribeCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:               "describe ROLE",
		Short:             "Show a role: its permissions, each explained, and the users who have it",
		Long:              `Show a role (a system role or a DashboardRole): its permissions, each explained, and the users whose role names it.`,
		Example:           `  kubectl dashboard roles describe analyst`,
		Args:              exactArgs(1, "ROLE"),
		ValidArgsFunction: o.completeRoleArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := ParseRole(args[0])
			if err != nil {
				return asUsage(err)
			}
			c, ns, err := o.target()
			if err != nil {
				return err
			}
			ctx := commandContext(cmd)
			var r accessv1alpha1.DashboardRole
			if roles.IsSystem(string(role)) {
				r = ops.SystemRoleObjects(ns)[indexOf(roles.SystemNames, string(role))]
			} else {
				got, err := ops.GetRole(ctx, c, ns, string(role))
				if err != nil {
					return err
				}
				r = *got
			}
			users, err := ops.ListUsers(ctx, c, client.InNamespace(ns))
			if err != nil {
				return err
			}
			o.describeRole(&r, users)
			return nil
		},
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// describeRole prints r as `roles describe` shows it, with its users among list (users.OfRole).
func (o *options) describeRole(r *accessv1alpha1.DashboardRole, list []accessv1alpha1.DashboardUser) {
	kind := roleCustom
	if roles.IsSystem(r.Name) {
		kind = roleBuiltIn
	}
	o.printf("Name:         %s\nNamespace:    %s\nType:         %s\nDescription:  %s\n", r.Name, r.Namespace, kind,
		tableCell(orNone(r.Spec.Description, "<none>")))
	if kind == roleCustom {
		o.printf("Ready:        %s\nAge:          %s\n", readyCell(r.Status.Conditions), age(r.CreationTimestamp))
	}
	o.printf("Permissions:\n")
	if len(r.Spec.Permissions) == 0 {
		o.printf("  <none>\n")
	}
	for _, info := range roles.Vocabulary {
		for _, p := range r.Spec.Permissions {
			if string(p) == string(info.Name) {
				o.printf("  %-18s %s\n", info.Name, info.Description)
			}
		}
	}
	holders := users.OfRole(list, r.Name)
	emails := make([]string, 0, len(holders))
	for _, u := range holders {
		emails = append(emails, u.Spec.Email)
	}
	o.printf("Users:        %d\n", len(emails))
	for _, e := range emails {
		o.printf("  %s\n", e)
	}
}

// checkRole refuses a custom role that does not exist in the namespace, unless allowMissing; the
// API would accept it, but the user would not be Ready until someone creates the role.
func checkRole(cmd *cobra.Command, c client.Client, ns string, role accessv1alpha1.Role, allowMissing bool) error {
	if allowMissing {
		return nil
	}
	return missingRoleHint(ops.CheckRoleExists(commandContext(cmd), c, ns, role))
}

// missingRoleHint adds the plugin's ways past a MissingRoleError to it.
func missingRoleHint(err error) error {
	var missing *ops.MissingRoleError
	if errors.As(err, &missing) {
		return fmt.Errorf("%w\n(create it with \"kubectl dashboard roles create %s --permission ...\", "+
			"or pass --allow-missing-role if it will be created later, e.g. by GitOps)", err, missing.Role)
	}
	return err
}

// addAllowMissingRoleFlag adds --allow-missing-role to a command that gives users a role.
func addAllowMissingRoleFlag(cmd *cobra.Command, target *bool) {
	cmd.Flags().BoolVar(target, "allow-missing-role", false,
		"Accept a custom role that does not exist yet (its users are not Ready until it is created)")
}
