// Package plugin is the kubectl plugin `kubectl dashboard`: the imperative actions of the
// dashboard's users page (invite, list, export, edit a role, revoke or grant access, resend an
// invite) and of its passcodes (grant, reset, revoke, status), done on the DashboardUser and
// Passcode custom resources.
//
// The plugin reads and writes only those two kinds, like cert-manager's cmctl: it never reads a
// Secret, so it never sees a passcode. The operator does the rest (invites, passcodes, Secrets).
//
// Every command is built by NewRootCommand; cmd/kubectl-dashboard only runs it and turns its error
// into an exit code with ExitCode.
package plugin
