package plugin

import (
	"slices"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/roles"
)

// completeRoles completes a role: the system roles, then the project's DashboardRoles.
func (o *options) completeRoles(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	names := slices.Clone(roles.SystemNames)
	return append(names, o.listNames(cmd, &accessv1alpha1.DashboardRoleList{})...), cobra.ShellCompDirectiveNoFileComp
}

// completeRoleArg completes the first argument with a role.
func (o *options) completeRoleArg(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return o.completeRoles(cmd, args, toComplete)
}

// completeCustomRoles completes the first argument with the project's DashboardRoles.
func (o *options) completeCustomRoles(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return o.listNames(cmd, &accessv1alpha1.DashboardRoleList{}), cobra.ShellCompDirectiveNoFileComp
}

// completeUsers completes the first argument with the names of the project's DashboardUsers.
func (o *options) completeUsers(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return o.listNames(cmd, &accessv1alpha1.DashboardUserList{}), cobra.ShellCompDirectiveNoFileComp
}

// completeUserThenRole completes USER, then ROLE.
func (o *options) completeUserThenRole(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return o.completeUsers(cmd, args, toComplete)
	case 1:
		return o.completeRoles(cmd, args, toComplete)
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completePasscodes completes the first argument with the names of the project's Passcodes.
func (o *options) completePasscodes(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return o.listNames(cmd, &accessv1alpha1.PasscodeList{}), cobra.ShellCompDirectiveNoFileComp
}

// listNames lists the objects of the project; completion is best effort, so errors give nothing.
func (o *options) listNames(cmd *cobra.Command, list client.ObjectList) []string {
	c, ns, err := o.target()
	if err != nil {
		return nil
	}
	if err := c.List(commandContext(cmd), list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var names []string
	switch l := list.(type) {
	case *accessv1alpha1.DashboardUserList:
		for _, u := range l.Items {
			names = append(names, u.Name)
		}
	case *accessv1alpha1.PasscodeList:
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
	case *accessv1alpha1.DashboardRoleList:
		for _, r := range l.Items {
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return names
}
