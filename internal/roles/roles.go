// Package roles is the dashboard's permission vocabulary and its four built-in (system) roles, as
// pure data: the access server, the controllers, SCIM and the plugin all ask it, so a permission
// means the same everywhere. It imports nothing from Kubernetes.
package roles

import (
	"slices"
	"strings"
)

// Permission is one thing a dashboard user may do, named area.verb.
type Permission string

// The permission vocabulary (docs/roles.md lists it). Names are stable: gateways and DashboardRoles
// refer to them, so one is never renamed, only added.
const (
	ReportsRead      Permission = "reports.read"
	ReportsWrite     Permission = "reports.write"
	DashboardsRead   Permission = "dashboards.read"
	DashboardsWrite  Permission = "dashboards.write"
	SegmentsRead     Permission = "segments.read"
	SegmentsWrite    Permission = "segments.write"
	CampaignsRead    Permission = "campaigns.read"
	CampaignsWrite   Permission = "campaigns.write"
	CampaignsApprove Permission = "campaigns.approve"
	ExportsDownload  Permission = "exports.download"
	UsersManage      Permission = "users.manage"
	PasscodesManage  Permission = "passcodes.manage"
	SettingsManage   Permission = "settings.manage"
)

// Info describes a permission for people (docs, plugin help).
type Info struct {
	Name        Permission
	Description string
}

// Vocabulary is every permission, in the order docs and help list them.
var Vocabulary = []Info{
	{ReportsRead, "view reports and analytics (events, funnels, cohorts)"},
	{ReportsWrite, "create, edit and delete reports"},
	{DashboardsRead, "view dashboards"},
	{DashboardsWrite, "create, edit and delete dashboards"},
	{SegmentsRead, "view user segments"},
	{SegmentsWrite, "create, edit and delete user segments"},
	{CampaignsRead, "view campaigns and their results"},
	{CampaignsWrite, "create and edit campaigns (they wait for approval)"},
	{CampaignsApprove, "approve campaigns so they go live"},
	{ExportsDownload, "download exports (users list, report data)"},
	{UsersManage, "invite users, edit roles, revoke access"},
	{PasscodesManage, "grant, reset and revoke passcodes"},
	{SettingsManage, "change project settings"},
}

// The dashboard's system roles, spelled as DashboardUser.spec.role spells them.
const (
	Admin    = "Admin"
	Creator  = "Creator"
	Member   = "Member"
	Approver = "Approver"
)

// SystemNames are the system roles, in the order help and docs list them.
var SystemNames = []string{Admin, Creator, Member, Approver}

// system holds each system role's permissions. Admin has every permission; Member reads and does
// not write; Creator builds; Approver reads and approves what Creators build.
var system = map[string][]Permission{
	Admin: all(),
	Creator: {
		ReportsRead, ReportsWrite, DashboardsRead, DashboardsWrite, SegmentsRead, SegmentsWrite,
		CampaignsRead, CampaignsWrite, ExportsDownload,
	},
	Member:   {ReportsRead, DashboardsRead, SegmentsRead, CampaignsRead},
	Approver: {ReportsRead, DashboardsRead, SegmentsRead, CampaignsRead, CampaignsApprove},
}

func all() []Permission {
	out := make([]Permission, len(Vocabulary))
	for i, p := range Vocabulary {
		out[i] = p.Name
	}
	return out
}

// Known reports whether p is in the vocabulary.
func Known(p string) bool {
	return slices.ContainsFunc(Vocabulary, func(i Info) bool { return string(i.Name) == p })
}

// KnownNames is the vocabulary as strings, for error messages ("must be one of ...").
func KnownNames() []string {
	out := make([]string, len(Vocabulary))
	for i, p := range Vocabulary {
		out[i] = string(p.Name)
	}
	return out
}

// IsSystem reports whether name is a system role, spelled exactly.
func IsSystem(name string) bool {
	_, ok := system[name]
	return ok
}

// SystemSpelling returns the system role that name spells in another case ("admin" → "Admin"), so
// callers can refuse it with a hint: a custom role may not shadow a system role.
func SystemSpelling(name string) (string, bool) {
	for _, s := range SystemNames {
		if strings.EqualFold(name, s) {
			return s, true
		}
	}
	return "", false
}

// System returns a copy of a system role's permissions, in vocabulary order.
func System(name string) ([]Permission, bool) {
	p, ok := system[name]
	return slices.Clone(p), ok
}

// Normalize returns perms deduplicated and in vocabulary order, dropping names outside the
// vocabulary (the API refuses those; a stored object from a newer version may still carry one, and
// an unknown permission must never be granted).
func Normalize(perms []string) []Permission {
	out := make([]Permission, 0, len(perms))
	for _, v := range Vocabulary {
		if slices.Contains(perms, string(v.Name)) {
			out = append(out, v.Name)
		}
	}
	return out
}

// Has reports whether perms holds p.
func Has(perms []Permission, p string) bool {
	return slices.Contains(perms, Permission(p))
}

// Join renders perms as the comma-separated list gateways receive (X-Dashboard-Permissions).
func Join(perms []Permission) string {
	var b strings.Builder
	for i, p := range perms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(p))
	}
	return b.String()
}

// maxCustomName is a DashboardRole name's limit: a DNS-1123 label, so it fits a label value too.
const maxCustomName = 63

// CheckName says why name cannot be a DashboardUser's role, with the rules the CRD applies: a system
// role spelled exactly, or a DashboardRole's name (a DNS-1123 label). Another spelling of a system
// role is refused with the right one as a hint, so "admin" never silently means a custom role.
func CheckName(name string) error {
	if IsSystem(name) {
		return nil
	}
	if s, ok := SystemSpelling(name); ok {
		return &NameError{Name: name, Hint: s}
	}
	if !isLabel(name) {
		return &NameError{Name: name}
	}
	return nil
}

// NameError is a role name CheckName refused.
type NameError struct {
	Name string
	// Hint is the system role Name misspells, if any.
	Hint string
}

func (e *NameError) Error() string {
	if e.Hint != "" {
		return "invalid role \"" + e.Name + "\": a system role is spelled exactly, and a DashboardRole may not take its name (did you mean " + e.Hint + "?)"
	}
	return "invalid role \"" + e.Name + "\": must be a system role (" + strings.Join(SystemNames, ", ") +
		") or the name of a DashboardRole in the same namespace (lower-case letters, digits and '-', at most 63 characters)"
}

func isLabel(s string) bool {
	if s == "" || len(s) > maxCustomName || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// SystemPhrase lists the system roles for messages: "Admin, Creator, Member or Approver".
func SystemPhrase() string {
	last := len(SystemNames) - 1
	return strings.Join(SystemNames[:last], ", ") + " or " + SystemNames[last]
}
