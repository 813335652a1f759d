package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Permission is one thing a dashboard user may do (docs/roles.md lists the vocabulary; the enum here
// and internal/roles.Vocabulary agree, which a test checks).
// +kubebuilder:validation:Enum=reports.read;reports.write;dashboards.read;dashboards.write;segments.read;segments.write;campaigns.read;campaigns.write;campaigns.approve;exports.download;users.manage;passcodes.manage;settings.manage
type Permission string

// DashboardRoleSpec is a custom role: what its users may do.
type DashboardRoleSpec struct {
	// description says what the role is for (the Description column), at most 256 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\p{Cc}')",message="must not contain control characters (newlines, tabs, escape sequences)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[^\\\\P{Cf}\\\\x{200C}\\\\x{200D}]')",message="must not contain invisible format characters such as the right-to-left override U+202E (Unicode category Cf); only the zero-width joiners U+200C and U+200D are allowed"
	Description string `json:"description,omitempty"`

	// permissions are what users with this role may do, from the fixed vocabulary (reports.read,
	// reports.write, dashboards.read, dashboards.write, segments.read, segments.write, campaigns.read,
	// campaigns.write, campaigns.approve, exports.download, users.manage, passcodes.manage,
	// settings.manage). Gateways enforce them through the access server; an edit takes effect on the
	// next request.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Permissions []Permission `json:"permissions,omitempty"`
}

// DashboardRoleStatus is what the operator observed about a role.
type DashboardRoleStatus struct {
	// users counts the DashboardUsers in this namespace whose spec.role names this role, leaving out
	// users being deleted (they have already lost their access).
	// +optional
	Users int32 `json:"users"`

	// observedGeneration is the generation the status was last computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (kstatus-compatible).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DashboardRole is a custom role on a dashboard project (the namespace), beyond the four system
// roles: DashboardUsers name it in spec.role, and gateways enforce its permissions. Deleting a role
// that users still name is allowed and reported: those users stop being Ready and their passcodes
// carry no permissions until the role returns or they get another.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dr,categories=dashboard
// +kubebuilder:printcolumn:name="Description",type=string,JSONPath=`.spec.description`
// +kubebuilder:printcolumn:name="Permissions",type=string,JSONPath=`.spec.permissions`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be at most 63 lower-case letters, digits and '-' (no dots), so that spec.role can name it"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name in ['admin', 'creator', 'member', 'approver'])",message="metadata.name must not be a system role's name (admin, creator, member, approver): those roles are built in"
type DashboardRole struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the role's permissions.
	// +optional
	Spec DashboardRoleSpec `json:"spec,omitempty"`

	// status is the observed role.
	// +optional
	Status DashboardRoleStatus `json:"status,omitempty"`
}

// DashboardRoleList is a list of DashboardRoles.
//
// +kubebuilder:object:root=true
type DashboardRoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DashboardRole `json:"items"`
}
