// Package controllers holds the reconcilers: PasscodeReconciler (issue, expire, revoke, repair),
// PasscodeCopiesReconciler (the Secret's copies in other namespaces) and PasscodeRestartReconciler
// (the rollout restarts of a new revision), DashboardUserReconciler, DashboardRoleReconciler (it
// counts a role's users), and NotificationReconciler, which delivers lifecycle notifications after
// the changes they report. Each reads top to bottom: observe once, decide (a pure function of what
// was observed and an injected clock, table-tested without a server), act, one status write; Ready
// is computed once per reconcile (summarize), and every failure is counted the same way (status.go).
package controllers
