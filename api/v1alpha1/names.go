package v1alpha1

// Names shared with everything outside the operator (SPEC "Names"): they are part of the contract.
const (
	// ResetRequestedAtAnnotation on a Passcode asks for a fresh passcode now. Its value is an RFC 3339
	// time; a value already handled (status.lastResetRequestedAt) does nothing, so re-applying a
	// manifest is harmless.
	ResetRequestedAtAnnotation = "access.dashboardops.io/reset-requested-at"
	// ResetImmediateAnnotation set to "true" next to ResetRequestedAtAnnotation makes that reset end
	// the current passcode at once, with no grace period: for a passcode that leaked.
	ResetImmediateAnnotation = "access.dashboardops.io/reset-immediate"

	// ResendInviteRequestedAtAnnotation on a DashboardUser asks for a fresh invite now (RFC 3339 time),
	// handled once per value like ResetRequestedAtAnnotation.
	ResendInviteRequestedAtAnnotation = "access.dashboardops.io/resend-invite-requested-at"

	// ManagedByLabel is set to ManagedByValue on every Secret the operator writes; the manager caches
	// only Secrets that carry it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel.
	ManagedByValue = "access-operator"
	// PasscodeLabel on a Secret names the Passcode it belongs to (a name longer than a label value's
	// 63 characters is shortened with a hash suffix: passcodesecret.PasscodeLabelValue).
	PasscodeLabel = "access.dashboardops.io/passcode"
	// InviteKeyLabel marks a project's invite key Secret (InviteKeySecretName), the one Secret the
	// operator writes that holds no passcode.
	InviteKeyLabel = "access.dashboardops.io/invite-key"
	// InviteKeySecretName is the Secret in each project (namespace) that holds the key invite links
	// are derived from, so a retried delivery carries the same link.
	InviteKeySecretName = "access-operator-invite-key"

	// RestartedAtAnnotation is set on the pod template of each spec.rolloutRestartTargets workload when
	// a new passcode revision is written, as `kubectl rollout restart` does. Its value is that
	// revision's status.issuedAt in RFC 3339 (UTC, whole seconds) with the revision number as its
	// nanoseconds (internal/consumers.Value): writing it again for the same revision changes nothing,
	// and two revisions issued within one second still differ.
	RestartedAtAnnotation = "access.dashboardops.io/restarted-at"

	// AcceptPasscodesFromAnnotation on a namespace is its consent to receive spec.secretCopies: the
	// namespaces (accounts) it takes copies from, comma-separated, or "*" for any.
	AcceptPasscodesFromAnnotation = "access.dashboardops.io/accept-passcodes-from"

	// SCIMTokenLabel set to "true" on a Secret makes its SCIMTokenKey a bearer token of the SCIM
	// endpoint of the Secret's namespace (docs/scim.md). The manager watches these Secrets through a
	// second cache filtered by this label, so it still caches no other Secret it did not write.
	SCIMTokenLabel = "access.dashboardops.io/scim-token"
	// SCIMEnabledAnnotation set to "true" on a namespace turns its SCIM endpoint on. Without it the
	// namespace has no SCIM tokens, whatever Secrets it holds: anyone who may create a Secret in a
	// namespace could otherwise mint a token and provision Admins there with the operator's rights,
	// and annotating a namespace takes a cluster-level right.
	SCIMEnabledAnnotation = "access.dashboardops.io/scim-enabled"
	// SCIMTokenKey is the key of a SCIM token Secret that holds the token.
	SCIMTokenKey = "token"
	// ProvisionedByLabel on a DashboardUser says which tool created it; ProvisionedBySCIM marks the
	// users an identity provider created over SCIM, which SCIM may then edit and delete.
	ProvisionedByLabel = "access.dashboardops.io/provisioned-by"
	// ProvisionedBySCIM is the value of ProvisionedByLabel on users created over SCIM.
	ProvisionedBySCIM = "scim"
	// SCIMManagedAnnotation set to "true" on a DashboardUser not created over SCIM (kept in Git, say)
	// lets SCIM edit and delete it too. Without it SCIM only reads such a user, so an identity
	// provider and a GitOps tool never fight over one object.
	SCIMManagedAnnotation = "access.dashboardops.io/scim-managed"
	// SCIMExternalIDAnnotation keeps the identity provider's externalId of a user.
	SCIMExternalIDAnnotation = "access.dashboardops.io/scim-external-id"
	// RevokedByAnnotation names, on a DashboardUser or Passcode whose access the operator revoked,
	// what revoked it (accessreview/<name>, dashboardpolicy/default), so that whoever finds
	// spec.access changed outside Git sees why.
	RevokedByAnnotation = "access.dashboardops.io/revoked-by"
	// RegrantedAtAnnotation is when the operator saw a user's access granted again after it revoked
	// it (RFC 3339): inactivity counts from it when it is later than the last login.
	RegrantedAtAnnotation = "access.dashboardops.io/regranted-at"
)
