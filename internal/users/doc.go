// Package users holds the rules about DashboardUsers that every layer shares, each in one place:
// who counts as a user of a role, whether the role a user names exists (and what to say when it
// does not), what a valid email address is, the object name an email gives, and which characters
// free text (display names, role descriptions) may not hold. The controllers, the access server,
// SCIM, the users page and the plugin (through internal/ops) all call it, so a rule cannot mean
// one thing in a status and another in a refusal.
//
// It imports the API types and apimachinery, never controller-runtime: the one read it needs (does
// a DashboardRole exist) is passed in by the caller.
package users
