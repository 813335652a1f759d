package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DashboardPolicyName is the one name a DashboardPolicy may have: the project's admission policy
// (config/admission/dashboard_policy.yaml) reads the namespace's policy by it.
const DashboardPolicyName = "default"

// The durations below use the grammar of passcode_types.go (`^(0|[1-9][0-9]{0,5})[mhd]$`, read as
// minutes with int(number) * (d: 1440, h: 60, m: 1)); internal/duration holds the same bounds.

// InvitePolicy restricts who may be invited.
type InvitePolicy struct {
	// allowedEmailDomains are the domains a DashboardUser's spec.email may have: `example.com` is
	// that domain exactly, `*.example.com` its subdomains only (list both for both). Empty allows any
	// domain. Lower case, at most 64 entries.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^([*][.])?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$')",message="must be a lower-case email domain such as example.com, or *.example.com for its subdomains"
	AllowedEmailDomains []string `json:"allowedEmailDomains,omitempty"`
}

// PasscodePolicy bounds the Passcodes of the project. Passcodes outside it are refused at apply;
// existing ones are reported, never changed.
type PasscodePolicy struct {
	// maxTenure is the longest spec.tenure a Passcode may have: a whole number followed by d, h or m,
	// at least 1m and at most 365d.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 90d, 12h or 45m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 525600)",message="must be at least 1m and at most 365d"
	MaxTenure string `json:"maxTenure,omitempty"`

	// requireAutomaticRotation, when true, refuses Passcodes whose spec.rotation.policy is not
	// Automatic.
	// +optional
	RequireAutomaticRotation bool `json:"requireAutomaticRotation,omitempty"`

	// maxGracePeriod is the longest spec.rotation.gracePeriod a Passcode may have: same format, at
	// most 24h (0m: the previous passcode must stop at once).
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 1h or 30m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 1440",message="must be at most 24h"
	MaxGracePeriod string `json:"maxGracePeriod,omitempty"`
}

// InactivityPolicy revokes access nobody uses.
type InactivityPolicy struct {
	// revokeUsersAfter revokes a DashboardUser (spec.access: Revoked) who has not logged in for this
	// long, counted from status.lastLoginAt, or from acceptance for a user who never logged in. A
	// whole number followed by d, h or m, at least 1d and at most 3650d.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 90d"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1440 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 5256000)",message="must be at least 1d and at most 3650d: inactivity is counted in days"
	RevokeUsersAfter string `json:"revokeUsersAfter,omitempty"`

	// revokePasscodesUnusedFor revokes a Passcode (spec.revoked) not used for this long, counted
	// from status.lastUsedAt, or from issue for one never used. Same format and bounds as
	// revokeUsersAfter.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 90d"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1440 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 5256000)",message="must be at least 1d and at most 3650d: inactivity is counted in days"
	RevokePasscodesUnusedFor string `json:"revokePasscodesUnusedFor,omitempty"`

	// warnBefore is how long before a revocation the lifecycle notification (user.inactive,
	// passcode.unused) warns. Same format, at most 90d; defaults to 7d. A warnBefore as long as the
	// period itself warns as soon as the clock starts.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 7d"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 129600",message="must be at most 90d"
	WarnBefore string `json:"warnBefore,omitempty"`
}

// SeatPolicy limits how many users hold access.
type SeatPolicy struct {
	// max is how many DashboardUsers may have access Granted: the oldest keep their seat, the newest
	// beyond it are not invited (condition SeatsExhausted). At least 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Max int32 `json:"max"`
}

// AdminPolicy says how many administrators a project must keep.
type AdminPolicy struct {
	// minimum is the fewest active Admins (access Granted, role Admin) the project may have; fewer is
	// reported in status, a metric and an alert. At least 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Minimum int32 `json:"minimum"`
}

// DashboardPolicySpec is the project's governance: who may be invited, how long passcodes live,
// when unused access is revoked, how many seats and admins. Every section is optional; an absent
// one sets no rule.
type DashboardPolicySpec struct {
	// invites restricts the email domains of DashboardUsers (refused at apply).
	// +optional
	Invites *InvitePolicy `json:"invites,omitempty"`
	// passcodes bounds Passcodes' tenure, rotation and grace period (refused at apply).
	// +optional
	Passcodes *PasscodePolicy `json:"passcodes,omitempty"`
	// inactivity revokes users and passcodes nobody uses (the warnBefore notifications are not sent
	// yet: docs/governance.md).
	// +optional
	Inactivity *InactivityPolicy `json:"inactivity,omitempty"`
	// seats limits how many users have access. Validated, not yet acted on (docs/governance.md).
	// +optional
	Seats *SeatPolicy `json:"seats,omitempty"`
	// admins sets the fewest Admins the project keeps: condition AdminsMinimum, a metric and an
	// alert say when it has fewer; the plugin and the users page refuse to go below it without
	// --force (docs/governance.md).
	// +optional
	Admins *AdminPolicy `json:"admins,omitempty"`
}

// PolicyAction is the next thing the inactivity rules will do.
type PolicyAction struct {
	// kind of the object: DashboardUser or Passcode.
	Kind string `json:"kind"`
	// name of the object, in the policy's namespace.
	Name string `json:"name"`
	// action is Revoke (Warn, the user.inactive or passcode.unused notification, is still to come).
	Action string `json:"action"`
	// at is when it is due.
	At metav1.Time `json:"at"`
}

// MaxListedNonCompliant bounds status.nonCompliantObjects: the count is in status.nonCompliant.
const MaxListedNonCompliant = 20

// PolicyViolation names an object that breaks a rule of the policy.
type PolicyViolation struct {
	// kind of the object: DashboardUser or Passcode.
	Kind string `json:"kind"`
	// name of the object, in the policy's namespace.
	Name string `json:"name"`
	// rules it breaks: the policy fields, e.g. spec.passcodes.maxTenure.
	// +listType=atomic
	Rules []string `json:"rules"`
}

// DashboardPolicyStatus is what the operator observed about the project against the policy.
type DashboardPolicyStatus struct {
	// compliant counts the DashboardUsers and Passcodes that meet every rule.
	// +optional
	Compliant int32 `json:"compliant"`
	// nonCompliant counts those that break a rule: objects that predate a tightened policy (the
	// admission policy refuses new ones). They are reported, never changed.
	// +optional
	NonCompliant int32 `json:"nonCompliant"`
	// nonCompliantObjects names the first 20 of them (by kind, then name) with the rules each breaks.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	NonCompliantObjects []PolicyViolation `json:"nonCompliantObjects,omitempty"`
	// activeAdmins counts users with role Admin and access Granted, not being deleted (condition AdminsMinimum compares it with spec.admins.minimum).
	// +optional
	ActiveAdmins int32 `json:"activeAdmins"`
	// seatsUsed counts users with access Granted (spec.seats is not acted on yet).
	// +optional
	SeatsUsed int32 `json:"seatsUsed"`
	// nextAction is the next inactivity revocation and when it is due.
	// +optional
	NextAction *PolicyAction `json:"nextAction,omitempty"`

	// observedGeneration is the generation the status was last computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, and AdminsBelowMinimum and SeatsExhausted when they apply.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DashboardPolicy is the governance of a dashboard project (the namespace): at most one, named
// default. Its invite and passcode rules are enforced at apply by the admission policy
// dashboard-policy (config/admission); a project without one behaves as if it had no rules.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dpol,categories=dashboard
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="metadata.name must be default: a project has one DashboardPolicy, named default, which the admission policy reads"
// +kubebuilder:printcolumn:name="Compliant",type=integer,JSONPath=`.status.compliant`
// +kubebuilder:printcolumn:name="Non-Compliant",type=integer,JSONPath=`.status.nonCompliant`
// +kubebuilder:printcolumn:name="Seats Used",type=integer,JSONPath=`.status.seatsUsed`
// +kubebuilder:printcolumn:name="Admins",type=integer,JSONPath=`.status.activeAdmins`
// +kubebuilder:printcolumn:name="Next Action",type=string,JSONPath=`.status.nextAction.at`,description="When the next inactivity revocation is due"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DashboardPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the project's rules.
	// +optional
	Spec DashboardPolicySpec `json:"spec,omitempty"`

	// status is the project observed against them.
	// +optional
	Status DashboardPolicyStatus `json:"status,omitempty"`
}

// DashboardPolicyList is a list of DashboardPolicies.
//
// +kubebuilder:object:root=true
type DashboardPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DashboardPolicy `json:"items"`
}
