// Package controllers holds one reconciler per Kind, PasscodeReconciler and DashboardUserReconciler,
// and NotificationReconciler, which follows both kinds to deliver lifecycle notifications after the
// changes they report. They glue the domain packages under internal/ to the Kubernetes API; the
// decisions they make are pure functions of the object and an injected clock, so they can be
// table-tested without a server.
package controllers
