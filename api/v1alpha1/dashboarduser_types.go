package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Role names a user's role: one of the dashboard's system roles (Admin, Creator, Member, Approver),
// spelled exactly, or the name of a DashboardRole in the same namespace.
// +kubebuilder:validation:MaxLength=63
type Role string

// The dashboard's system roles, spelled for Go clients: internal/roles.SystemNames is the list every
// check uses (its permissions too), and a test in internal/users holds the two together.
const (
	RoleAdmin    Role = "Admin"
	RoleCreator  Role = "Creator"
	RoleMember   Role = "Member"
	RoleApprover Role = "Approver"
)

// Access says whether a user may use the dashboard and its API.
// +kubebuilder:validation:Enum=Granted;Revoked
type Access string

const (
	// AccessGranted lets the user in (the default).
	AccessGranted Access = "Granted"
	// AccessRevoked is the dashboard's "Revoke access": every passcode of the user stops working at
	// once, and setting Granted again does not revive them (a reset is needed).
	AccessRevoked Access = "Revoked"
)

// UserPhase is where a DashboardUser is in its life.
// +kubebuilder:validation:Enum=Pending;Invited;Active;InviteExpired;Revoked
type UserPhase string

// The phases of a DashboardUser.
const (
	UserPending       UserPhase = "Pending"
	UserInvited       UserPhase = "Invited"
	UserActive        UserPhase = "Active"
	UserInviteExpired UserPhase = "InviteExpired"
	UserRevoked       UserPhase = "Revoked"
)

// PasscodeSummary summarises the Passcodes of one user for the users page.
// +kubebuilder:validation:Enum=None;Active;Expiring;Expired;Revoked
type PasscodeSummary string

// The values of DashboardUserStatus.PasscodeStatus.
const (
	PasscodeSummaryNone     PasscodeSummary = "None"
	PasscodeSummaryActive   PasscodeSummary = "Active"
	PasscodeSummaryExpiring PasscodeSummary = "Expiring"
	PasscodeSummaryExpired  PasscodeSummary = "Expired"
	PasscodeSummaryRevoked  PasscodeSummary = "Revoked"
)

// InviteSpec tunes the invite a new user receives.
type InviteSpec struct {
	// ttl is how long the accept link works once sent: a whole number followed by d, h or m
	// (e.g. 7d, 12h, 45m), from 1m to 30d. Defaults to 7d.
	// +optional
	// +kubebuilder:default="7d"
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 7d, 12h or 45m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 43200)",message="must be at least 1m and at most 30d"
	TTL string `json:"ttl,omitempty"`
}

// DashboardUserSpec is the user as an admin would set it up on the users page.
type DashboardUserSpec struct {
	// email is where the invite goes and who the user is: a valid address in lower case (upper case
	// is refused so that one person is one object), at most 254 characters, at most 64 before the @
	// and at most 63 in each part of the domain between dots (a DNS label). Immutable.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self == self.lowerAscii()",message="must be lower case, so that one person is one object"
	// +kubebuilder:validation:XValidation:rule="self.lowerAscii().matches('^[a-z0-9_%+-]+([.][a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)+$')",message="must be an email address such as jane@example.com (no dot at the start or end of the part before @, no two dots in a row)"
	// +kubebuilder:validation:XValidation:rule="self.indexOf('@') <= 64",message="the part before @ must be at most 64 characters"
	// +kubebuilder:validation:XValidation:rule="!self.matches('@[^@]*[^.@]{64}')",message="each part of the domain between dots must be at most 63 characters (a DNS label)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: create a new DashboardUser for another address"
	Email string `json:"email"`

	// displayName is the Name column of the users page, at most 128 characters, with no control
	// characters and no invisible format characters (Unicode category Cf, such as the right-to-left
	// override U+202E, which would make the name read as another) other than the zero-width joiners
	// U+200C and U+200D that some scripts and emoji need.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\p{Cc}')",message="must not contain control characters (newlines, tabs, escape sequences)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[^\\\\P{Cf}\\\\x{200C}\\\\x{200D}]')",message="must not contain invisible format characters such as the right-to-left override U+202E (Unicode category Cf); only the zero-width joiners U+200C and U+200D are allowed"
	DisplayName string `json:"displayName,omitempty"`

	// role is one of the dashboard's system roles (Admin, Creator, Member or Approver, spelled so) or
	// the name of a DashboardRole in the same namespace. Editing it takes effect at once. A user whose
	// DashboardRole does not exist is not Ready, and its passcodes verify with no permissions.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self in ['Admin', 'Creator', 'Member', 'Approver'] || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a system role (Admin, Creator, Member or Approver) or the name of a DashboardRole in this namespace (lower-case letters, digits and '-')"
	// +kubebuilder:validation:XValidation:rule="!(self in ['admin', 'creator', 'member', 'approver'])",message="a system role is spelled Admin, Creator, Member or Approver; a DashboardRole may not take its name"
	Role Role `json:"role"`

	// access is Granted (the default) or Revoked. Revoked is the dashboard's "Revoke access": every
	// Passcode of the user is revoked at once; setting Granted again does not revive them.
	// +optional
	// +kubebuilder:default=Granted
	Access Access `json:"access,omitempty"`

	// invite tunes the invite sent to a new user.
	// +optional
	Invite *InviteSpec `json:"invite,omitempty"`
}

// InviteStatus is what happened to the user's invite. It never holds the invite token.
type InviteStatus struct {
	// sentAt is when the current invite was delivered.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`
	// expiresAt is when the current invite link stops working.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// acceptedAt is when the user accepted the invite.
	// +optional
	AcceptedAt *metav1.Time `json:"acceptedAt,omitempty"`
	// attempts counts delivery attempts of the current invite, failed ones included.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// lastError says why the last delivery failed, without any secret in the text.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// number counts the invite links made for this user; with the user's UID it is the idempotency
	// key of a delivery, the same on every retry of one link.
	// +optional
	Number int32 `json:"number,omitempty"`
	// tokenHash is the SHA-256 hash of the current invite link's token ("sha256:<hex>"), never the
	// token. A resend replaces it, so the old link stops working.
	// +optional
	TokenHash string `json:"tokenHash,omitempty"`
	// nextAttemptAt is when a failed delivery is retried (persisted backoff).
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`
	// lastAttemptAt is when the latest delivery attempt was reserved, recorded before it is made:
	// the invite batch limit counts these, so it holds across restarts and leader changes.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`
}

// PendingNotification is a lifecycle notification about a DashboardUser still to be delivered. Its
// idempotency key is derived from these fields and the user's UID, never stored.
type PendingNotification struct {
	// type is user.role-changed or user.access-revoked.
	Type string `json:"type"`
	// generation is the user's metadata.generation the change was observed at.
	Generation int64 `json:"generation"`
	// role is the user's role after the change.
	// +optional
	Role Role `json:"role,omitempty"`
	// previousRole is the role before a role change.
	// +optional
	PreviousRole Role `json:"previousRole,omitempty"`
	// at is when the operator observed the change.
	At metav1.Time `json:"at"`
}

// DashboardUserStatus is what the operator observed and did.
type DashboardUserStatus struct {
	// phase is Pending (not yet invited), Invited, Active (invite accepted), InviteExpired or Revoked.
	// +optional
	Phase UserPhase `json:"phase,omitempty"`

	// invite is the state of the user's invite.
	// +optional
	Invite *InviteStatus `json:"invite,omitempty"`

	// lastLoginAt is the last successful passcode authentication by this user (coalesced to a minute).
	// +optional
	LastLoginAt *metav1.Time `json:"lastLoginAt,omitempty"`

	// passcodeStatus summarises the user's Passcodes: None, Active, Expiring (inside its renew
	// window), Expired or Revoked.
	// +optional
	PasscodeStatus PasscodeSummary `json:"passcodeStatus,omitempty"`

	// observedRole is the role last reconciled, so that a role edit is reported with its old value.
	// +optional
	ObservedRole Role `json:"observedRole,omitempty"`

	// lastResendRequestedAt is the value of the resend-invite annotation handled last, so that
	// re-applying the same value does nothing.
	// +optional
	LastResendRequestedAt string `json:"lastResendRequestedAt,omitempty"`

	// pendingNotifications are lifecycle notifications (docs/notifications.md) recorded in the same
	// status write as the change they tell of and removed once delivered: an outbox that survives
	// manager restarts.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	PendingNotifications []PendingNotification `json:"pendingNotifications,omitempty"`

	// failures counts consecutive failed reconciles (reading the API, writing status); reset on
	// success.
	// +optional
	Failures int32 `json:"failures,omitempty"`

	// nextRetryAt is when a failed reconcile is retried (persisted backoff).
	// +optional
	NextRetryAt *metav1.Time `json:"nextRetryAt,omitempty"`

	// observedGeneration is the generation the status was last computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, plus Reconciling and Stalled when they apply (kstatus-compatible).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DashboardUser is a person with a role on a dashboard project (the namespace): the users page, made
// declarative. Creating one invites the user by email.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=du,categories=dashboard
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Email",type=string,JSONPath=`.spec.email`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Last Login",type=date,JSONPath=`.status.lastLoginAt`
// +kubebuilder:printcolumn:name="Passcode",type=string,JSONPath=`.status.passcodeStatus`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DashboardUser struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired user.
	// +required
	Spec DashboardUserSpec `json:"spec"`

	// status is the observed user.
	// +optional
	Status DashboardUserStatus `json:"status,omitempty"`
}

// DashboardUserList is a list of DashboardUsers.
//
// +kubebuilder:object:root=true
type DashboardUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DashboardUser `json:"items"`
}
