// Package ops is the one layer of user and passcode operations shared by the kubectl plugin
// (internal/plugin) and the local users page (internal/ui): inviting, listing, changing a role,
// revoking or granting access, granting and resetting passcodes, the CSV export, and listing,
// creating and deleting DashboardRoles. The rules they check (emails, role names, who uses a role)
// are internal/users' and internal/roles', shared with the controllers and SCIM. Every
// operation acts with the client it is given (the caller's kubeconfig credentials) and returns the
// lines the plugin prints, so the page shows exactly what the CLI says, errors included.
package ops
