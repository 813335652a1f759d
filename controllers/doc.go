// Package controllers holds one reconciler per Kind, PasscodeReconciler, DashboardUserReconciler and
// DashboardRoleReconciler (it counts a role's users and reports a role deleted in use), and
// NotificationReconciler, which follows users and passcodes to deliver lifecycle notifications after
// the changes they report. They glue the domain packages under internal/ to the Kubernetes API; the
// decisions they make are pure functions of the object and an injected clock, so they can be
// table-tested without a server.
package controllers
