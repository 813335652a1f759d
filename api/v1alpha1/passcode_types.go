package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Durations in this API (tenure, renewBefore, gracePeriod, ttl) are a whole number followed by d, h
// or m: `30d`, `12h`, `45m`. The CEL rules below and internal/duration accept exactly the same
// strings (a test holds them to it): `^(0|[1-9][0-9]{0,5})[mhd]$`, read as minutes with
// int(number) * (d: 1440, h: 60, m: 1).

// RotationPolicy says what happens when a passcode's tenure runs out.
// +kubebuilder:validation:Enum=Manual;Automatic
type RotationPolicy string

const (
	// RotationManual means the passcode expires at the end of its tenure; a reset grants a new one.
	RotationManual RotationPolicy = "Manual"
	// RotationAutomatic means a fresh passcode replaces the current one renewBefore its expiry.
	RotationAutomatic RotationPolicy = "Automatic"
)

// PasscodePhase is where a Passcode is in its life.
// +kubebuilder:validation:Enum=Pending;Active;Expired;Revoked
type PasscodePhase string

// The phases of a Passcode.
const (
	PasscodePending PasscodePhase = "Pending"
	PasscodeActive  PasscodePhase = "Active"
	PasscodeExpired PasscodePhase = "Expired"
	PasscodeRevoked PasscodePhase = "Revoked"
)

// UserReference names a DashboardUser in the Passcode's namespace.
type UserReference struct {
	// name of the DashboardUser.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a DashboardUser: lower case letters, digits, '-' and '.'"
	Name string `json:"name"`
}

// RotationSpec says how a passcode is replaced.
type RotationSpec struct {
	// policy is Manual (the default: the passcode expires at the end of its tenure) or Automatic (a
	// fresh passcode replaces it renewBefore its expiry).
	// +optional
	// +kubebuilder:default=Manual
	Policy RotationPolicy `json:"policy,omitempty"`

	// renewBefore is how long before expiry the next passcode is issued (Automatic), and where the
	// users page starts to show Expiring. Same format as tenure, at least 1m and shorter than the
	// tenure. Defaults to one third of the tenure.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 10d, 12h or 45m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1",message="must be at least 1m"
	RenewBefore string `json:"renewBefore,omitempty"`

	// gracePeriod is how long the previous passcode keeps working after a rotation or reset. Same
	// format as tenure, at most 24h. Defaults to 0 (the previous passcode stops at once).
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 1h or 30m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 1440",message="must be at most 24h"
	GracePeriod string `json:"gracePeriod,omitempty"`
}

// LabelValue is a Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.',
// starting and ending with a letter or digit (what the API server accepts on the Secret).
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// DataTemplate is a Go text/template rendering one key of the Secret from .Passcode, .Email,
// .Account and .ExpiresAt (RFC 3339), e.g. "Bearer {{ .Passcode }}".
// +kubebuilder:validation:MaxLength=4096
type DataTemplate string

// SecretTemplate shapes the Secret that holds the passcode: its type, extra keys rendered from the
// passcode, labels and annotations.
type SecretTemplate struct {
	// type of the Secret, e.g. kubernetes.io/basic-auth. Defaults to Opaque. Immutable (the API
	// server cannot change a Secret's type): create a new Passcode to use another.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$')",message="must be a Secret type: letters, digits, '-', '_', '.' and '/', e.g. Opaque or kubernetes.io/basic-auth"
	// +kubebuilder:validation:XValidation:rule="self != 'kubernetes.io/service-account-token'",message="must not be kubernetes.io/service-account-token: the API server fills such Secrets with a token"
	// +kubebuilder:validation:XValidation:rule="self != 'bootstrap.kubernetes.io/token'",message="must not be bootstrap.kubernetes.io/token: such a Secret is a bearer token for joining nodes to the cluster"
	Type string `json:"type,omitempty"`

	// data adds keys to the Secret, each rendered with Go text/template from .Passcode, .Email,
	// .Account and .ExpiresAt: e.g. API_KEY: "{{ .Passcode }}", or a whole config file. The keys
	// passcode, email, account and expiresAt stay as they are. Once the passcode has expired or is
	// revoked, the keys are rendered with an empty .Passcode. Templates use a bounded part of the
	// language (docs/consumers.md): if, with, else and end, no range, define, template, block or
	// variables, a listed set of functions, printf without widths; each key renders at most 64 KiB.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",message="keys must be Secret data keys: at most 253 letters, digits, '-', '_' or '.'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['passcode', 'email', 'account', 'expiresAt']))",message="must not set passcode, email, account or expiresAt: the operator writes them"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !self[k].replace('.Passcode', '').replace('.Email', '').replace('.Account', '').replace('.ExpiresAt', '').matches('[{][{]([^}]*[ ({|,$])?[.][A-Za-z_]'))",message="templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !self[k].matches('[{][{]-?[[:space:]]*(else[[:space:]]+)?(range|define|template|block|break|continue)([^A-Za-z0-9_]|$)'))",message="templates may not use range, define, template, block, break or continue: templates may use only the fields .Passcode, .Email, .Account and .ExpiresAt, the actions if, with, else and end, and the functions b64enc, toJson, print, printf, println, len, index, slice, eq, ne, lt, le, gt, ge, and, or, not, html, js and urlquery"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !self[k].matches('[{][{][^}]*[$]([A-Za-z0-9_]|[[:space:]]*:?=)'))",message="templates may not declare or assign variables ($x := ..., $ = ...): use with to reuse a value, and $ or $.Passcode for the fields"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !self[k].matches('[{][{][^}]*%[-+# 0]*[1-9*.[]'))",message="printf formats may not have a width, a precision or an argument index (%5d, %.3s, %[1]s): use %s, %v, %q, %d, %x, %X, %t or %c"
	Data map[string]DataTemplate `json:"data,omitempty"`

	// labels to add to the Secret (and its copies). Keys under access.dashboardops.io/ and
	// app.kubernetes.io/managed-by are the operator's: they mark what it wrote, and one of them
	// (access.dashboardops.io/scim-token) would make the Secret a SCIM token.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.lowerAscii().startsWith('access.dashboardops.io/') && k.lowerAscii() != 'app.kubernetes.io/managed-by')",message="must not use the access.dashboardops.io/ prefix or app.kubernetes.io/managed-by: the operator owns them"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 317 && k.indexOf('/') <= 253 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="keys must be label keys: an optional lower-case DNS prefix of at most 253 characters and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// annotations to add to the Secret (and its copies). Keys under access.dashboardops.io/ (in any
	// case) and app.kubernetes.io/managed-by are the operator's.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.lowerAscii().startsWith('access.dashboardops.io/') && k.lowerAscii() != 'app.kubernetes.io/managed-by')",message="must not use the access.dashboardops.io/ prefix or app.kubernetes.io/managed-by: the operator owns them"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 317 && k.indexOf('/') <= 253 && k.matches('^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="keys must be annotation keys: an optional DNS prefix of at most 253 characters and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PasscodeSpec is a grant of an API passcode to a user for a tenure.
//
// +kubebuilder:validation:XValidation:rule="!has(self.rotation) || !has(self.rotation.renewBefore) || !self.tenure.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || !self.rotation.renewBefore.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || int(self.rotation.renewBefore.substring(0, self.rotation.renewBefore.size() - 1)) * (self.rotation.renewBefore.endsWith('d') ? 1440 : (self.rotation.renewBefore.endsWith('h') ? 60 : 1)) < int(self.tenure.substring(0, self.tenure.size() - 1)) * (self.tenure.endsWith('d') ? 1440 : (self.tenure.endsWith('h') ? 60 : 1))",message="must be shorter than spec.tenure",fieldPath=".rotation.renewBefore"
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName) && (!has(self.secretName) || self.secretName == oldSelf.secretName)",message="is immutable: create a new Passcode to use another Secret",fieldPath=".secretName"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.revoked) || !oldSelf.revoked || (has(self.revoked) && self.revoked)",message="cannot be unset once true: a revoked Passcode is revoked for good; create a new Passcode",fieldPath=".revoked"
// +kubebuilder:validation:XValidation:rule="(has(self.secretTemplate) && has(self.secretTemplate.type) ? self.secretTemplate.type : 'Opaque') == (has(oldSelf.secretTemplate) && has(oldSelf.secretTemplate.type) ? oldSelf.secretTemplate.type : 'Opaque')",message="is immutable: the API server cannot change a Secret's type; create a new Passcode",fieldPath=".secretTemplate.type"
// +kubebuilder:validation:XValidation:rule="has(self.import) == has(oldSelf.import)",message="is immutable: import applies to the first passcode only",fieldPath=".import"
// +kubebuilder:validation:XValidation:rule="!has(self.secretName) || self.secretName != 'access-operator-invite-key'",message="must not be access-operator-invite-key: that Secret holds the project's invite key",fieldPath=".secretName"
// +kubebuilder:validation:XValidation:rule="!has(self.secretCopies) || self.secretCopies.all(c, !has(c.name) || c.name != 'access-operator-invite-key')",message="must not name a copy access-operator-invite-key: that Secret holds a project's invite key",fieldPath=".secretCopies"
type PasscodeSpec struct {
	// userRef names the DashboardUser (same namespace) the passcode belongs to. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: create a new Passcode for another user"
	UserRef UserReference `json:"userRef"`

	// tenure is how long a passcode is valid once issued: a whole number followed by d, h or m
	// (e.g. 30d, 12h, 45m), at least 1m and at most 365d.
	// +required
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,5})[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 30d, 12h or 45m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|[1-9][0-9]{0,5})[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 1 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 525600)",message="must be at least 1m and at most 365d"
	Tenure string `json:"tenure"`

	// rotation says how the passcode is replaced. Defaults to Manual: it expires at the end of its
	// tenure.
	// +optional
	Rotation *RotationSpec `json:"rotation,omitempty"`

	// secretName is the Secret that receives the passcode (keys passcode, email, account,
	// expiresAt): a DNS-1123 subdomain. Defaults to the Passcode's name. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', starting and ending with a letter or digit"
	SecretName string `json:"secretName,omitempty"`

	// secretTemplate adds labels and annotations to the Secret.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// revoked revokes this passcode for good: the Secret loses the passcode and the access server
	// rejects it. Once true it cannot be set back.
	// +optional
	Revoked bool `json:"revoked,omitempty"`

	// rolloutRestartTargets are workloads in this namespace restarted (as `kubectl rollout restart`
	// does) each time a new passcode revision is written by a rotation, reset or repair, after the
	// Secret holds it: once per revision.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	RolloutRestartTargets []RolloutRestartTarget `json:"rolloutRestartTargets,omitempty"`

	// secretCopies keeps copies of the Secret in other namespaces, for consumers that live there. A
	// namespace takes copies only from the namespaces listed in its
	// access.dashboardops.io/accept-passcodes-from annotation (or "*").
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	SecretCopies []SecretCopy `json:"secretCopies,omitempty"`

	// import adopts an existing passcode as revision 1 instead of generating one, so that a passcode
	// already in use keeps working. Later revisions are generated as usual. Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: import applies to the first passcode only"
	Import *PasscodeImport `json:"import,omitempty"`
}

// RolloutRestartTarget is a workload restarted on each new passcode revision.
type RolloutRestartTarget struct {
	// kind of the workload: Deployment, StatefulSet or DaemonSet.
	// +required
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	Kind string `json:"kind"`
	// name of the workload, in the Passcode's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a workload: lower case letters, digits, '-' and '.'"
	Name string `json:"name"`
}

// SecretCopy is a copy of the passcode Secret in another namespace.
type SecretCopy struct {
	// namespace that receives the copy. It must consent with the
	// access.dashboardops.io/accept-passcodes-from annotation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a namespace name: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace"`
	// name of the copy. Empty (the default) is the name of the primary Secret.
	// +optional
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// PasscodeImport names where an existing passcode comes from.
type PasscodeImport struct {
	// secretRef is a Secret in the Passcode's namespace whose key passcode holds the value to adopt:
	// 22 to 256 characters of A-Z, a-z, 0-9, '-' and '_'. The Secret is only read.
	// +required
	SecretRef LocalSecretReference `json:"secretRef"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be the name of a Secret: lower case letters, digits, '-' and '.'"
	Name string `json:"name"`
}

// RolloutRestartStatus is the restart of spec.rolloutRestartTargets for one passcode revision.
type RolloutRestartStatus struct {
	// revision the restarts are for.
	Revision int64 `json:"revision"`
	// restartedAt is when every target that exists was restarted; unset while that is still to do.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// missing are the targets that were not found ("Deployment/api"): nothing to restart there.
	// +optional
	Missing []string `json:"missing,omitempty"`
}

// PasscodeNotificationsStatus records the lifecycle notifications (docs/notifications.md) delivered
// for one revision, so that they are sent once per revision across retries and manager restarts.
type PasscodeNotificationsStatus struct {
	// revision the delivered notifications are about.
	Revision int64 `json:"revision"`
	// sent are the notification types delivered for that revision, e.g. passcode.expiring.
	// +optional
	// +listType=set
	Sent []string `json:"sent,omitempty"`
}

// PreviousPasscode is the passcode a rotation or reset replaced, still valid during the grace period.
type PreviousPasscode struct {
	// hash of the previous passcode ("sha256:<hex>"), never the passcode.
	Hash string `json:"hash"`
	// validUntil is when the previous passcode stops working.
	ValidUntil metav1.Time `json:"validUntil"`
}

// PasscodeStatus is what the operator observed and did. It never holds a passcode.
type PasscodeStatus struct {
	// phase is Pending, Active, Expired or Revoked.
	// +optional
	Phase PasscodePhase `json:"phase,omitempty"`

	// issuedAt is when the current passcode was issued.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// expiresAt is when the current passcode stops working (issuedAt + tenure).
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// renewalTime is when the next passcode will be issued (Automatic rotation only).
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`
	// revision counts the passcodes issued so far.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// userUID is the UID of the DashboardUser the current passcode was issued to: the passcode works
	// only for that very object, never for a user deleted and created again under the same name.
	// +optional
	UserUID types.UID `json:"userUID,omitempty"`
	// secretName is the Secret that holds the passcode.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// lastUsedAt is the last successful authentication with this passcode (coalesced to a minute).
	// +optional
	LastUsedAt *metav1.Time `json:"lastUsedAt,omitempty"`

	// hash of the current passcode ("sha256:<hex>"), never the passcode.
	// +optional
	Hash string `json:"hash,omitempty"`
	// previous is the passcode the last rotation or reset replaced, while its grace period lasts.
	// +optional
	Previous *PreviousPasscode `json:"previous,omitempty"`

	// lastResetRequestedAt is the value of the reset annotation handled last, so that re-applying the
	// same value does nothing.
	// +optional
	LastResetRequestedAt string `json:"lastResetRequestedAt,omitempty"`

	// rolloutRestart records the restart of spec.rolloutRestartTargets for the latest revision that
	// called for one, so that it happens once per revision, across retries and manager restarts.
	// +optional
	RolloutRestart *RolloutRestartStatus `json:"rolloutRestart,omitempty"`

	// notifications records the lifecycle notifications delivered for the current revision (written
	// after each delivery, only when --notify-events enables a type for this Passcode).
	// +optional
	Notifications *PasscodeNotificationsStatus `json:"notifications,omitempty"`

	// failures counts consecutive failed reconciles; the retry delay grows with it.
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// nextRetryAt is when the operator retries after a failure.
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

// Passcode grants a DashboardUser an API passcode for a tenure. The operator generates it, stores it
// in a Secret, keeps only its hash, and expires, rotates, resets and revokes it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dpc,categories=dashboard
// +kubebuilder:validation:XValidation:rule="has(self.spec.secretName) || self.metadata.name != 'access-operator-invite-key'",message="metadata.name must not be access-operator-invite-key unless spec.secretName is set: a Passcode without spec.secretName writes the Secret of its own name, and that Secret holds the project's invite key; choose another name or set spec.secretName"
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userRef.name`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Renews",type=string,JSONPath=`.status.renewalTime`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Last Used",type=date,JSONPath=`.status.lastUsedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Passcode struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired grant.
	// +required
	Spec PasscodeSpec `json:"spec"`

	// status is the observed grant.
	// +optional
	Status PasscodeStatus `json:"status,omitempty"`
}

// PasscodeList is a list of Passcodes.
//
// +kubebuilder:object:root=true
type PasscodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Passcode `json:"items"`
}

// BoundUserUID is the UID of the DashboardUser the current passcode was issued to: status.userUID,
// or for a passcode issued before that field existed, its one DashboardUser owner reference. It is
// "" when neither says (never issued, or owned by two users).
func (pc *Passcode) BoundUserUID() types.UID {
	if pc.Status.UserUID != "" {
		return pc.Status.UserUID
	}
	var uid types.UID
	for _, ref := range pc.OwnerReferences {
		if ref.Kind == "DashboardUser" && ref.APIVersion == GroupVersion.String() {
			if uid != "" {
				return ""
			}
			uid = ref.UID
		}
	}
	return uid
}
