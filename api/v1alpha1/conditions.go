package v1alpha1

// Condition types. They follow kstatus (sigs.k8s.io/cli-utils/pkg/kstatus): Ready is always set;
// Reconciling is True while the operator is still working towards the spec; Stalled is True when it
// cannot make progress without a change from a person.
const (
	// ConditionReady is True when the object is in the state its spec asks for.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is working on the object.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot go on until someone changes something.
	ConditionStalled = "Stalled"
	// ConditionSecretCopies (Passcodes with spec.secretCopies only) is True when every copy holds
	// what the primary Secret holds; False names the namespaces that refused or failed. Ready keeps
	// describing the primary Secret.
	ConditionSecretCopies = "SecretCopies"
)

// Condition reasons shared by both kinds. Event reasons use the same words.
const (
	// ReasonProgressing: the operator has seen this generation and is working on it.
	ReasonProgressing = "Progressing"
	// ReasonInvalidSpec: the spec passed API validation but cannot be acted on (Stalled).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonRetrying: the last attempt failed with a transient error; a retry is scheduled.
	ReasonRetrying = "Retrying"
	// ReasonRefused: the API server refused a write as invalid (422/400): retrying cannot help, only
	// a change to the object can (Stalled).
	ReasonRefused = "Refused"
)

// Condition reasons of a Passcode.
const (
	// ReasonIssued: the first passcode was issued and written to the Secret.
	ReasonIssued = "Issued"
	// ReasonImported: the first passcode is the one spec.import named, adopted instead of generated.
	ReasonImported = "Imported"
	// ReasonImportFailed: the Secret spec.import names is missing or its passcode cannot be adopted
	// (Stalled, checked again every minute).
	ReasonImportFailed = "ImportFailed"
	// ReasonRotated: automatic rotation issued the next passcode.
	ReasonRotated = "Rotated"
	// ReasonReset: a reset request issued a fresh passcode.
	ReasonReset = "Reset"
	// ReasonExpired: the tenure ended (Manual rotation); the passcode no longer works.
	ReasonExpired = "Expired"
	// ReasonRevoked: the passcode, or its user's access, was revoked; it no longer works.
	ReasonRevoked = "Revoked"
	// ReasonRepaired: the Secret was missing or its passcode edited, and a fresh one was issued.
	ReasonRepaired = "Repaired"
	// ReasonUserNotFound: spec.userRef names a DashboardUser that does not exist (yet).
	ReasonUserNotFound = "UserNotFound"
	// ReasonUserRevoked: the user's access is Revoked, so no passcode is issued and a reset is refused.
	ReasonUserRevoked = "UserRevoked"
	// ReasonRolloutRestarted: the workloads in spec.rolloutRestartTargets were restarted for a new
	// revision (Event only).
	ReasonRolloutRestarted = "RolloutRestarted"
	// ReasonRestartTargetNotFound: a workload in spec.rolloutRestartTargets does not exist, so nothing
	// was restarted there (Event, and the Ready message says which).
	ReasonRestartTargetNotFound = "RestartTargetNotFound"
	// ReasonSecretConflict: a Secret of spec.secretName exists and belongs to someone else (Stalled).
	ReasonSecretConflict = "SecretConflict"
	// ReasonCopiesSynced: every spec.secretCopies copy is written (SecretCopies True).
	ReasonCopiesSynced = "CopiesSynced"
	// ReasonCopiesContested: every copy is written, and a Passcode of another namespace asks for one
	// of them too; it is refused there (CopyConflict): the first to write a copy keeps its name
	// (SecretCopies True; also a Warning Event).
	ReasonCopiesContested = "CopiesContested"
	// ReasonCopiesPending: no passcode was issued yet, so no copy is written (SecretCopies False).
	ReasonCopiesPending = "CopiesPending"
	// ReasonCopyRefused: a target namespace refused a copy: it does not consent, is outside
	// --watch-namespaces or is the Passcode's own (SecretCopies False; also a Warning Event).
	ReasonCopyRefused = "CopyRefused"
	// ReasonCopyConflict: a Secret of the copy's name exists in the target namespace and is not a
	// copy of this Passcode (someone else's, or another Passcode's copy, which was written first): it
	// is never written (SecretCopies False; also a Warning Event).
	ReasonCopyConflict = "CopyConflict"
	// ReasonCopyFailed: writing or deleting a copy failed; it is retried with backoff (SecretCopies False).
	ReasonCopyFailed = "CopyFailed"
)

// Condition reasons of a DashboardUser.
const (
	// ReasonInvited: the invite was delivered; the user has not accepted it yet.
	ReasonInvited = "Invited"
	// ReasonInviteFailed: delivering the invite failed; it is retried with backoff.
	ReasonInviteFailed = "InviteFailed"
	// ReasonInviteExpired: the invite link expired before it was accepted.
	ReasonInviteExpired = "InviteExpired"
	// ReasonInviteKeyConflict: a Secret named like the project's invite key exists and the operator
	// did not create it; invites wait until it is deleted (Stalled, checked again every minute).
	ReasonInviteKeyConflict = "InviteKeyConflict"
	// ReasonAccepted: the user accepted the invite.
	ReasonAccepted = "Accepted"
	// ReasonAccessRevoked: the user's access is Revoked.
	ReasonAccessRevoked = "AccessRevoked"
	// ReasonRoleChanged: the user's role was edited (Event only).
	ReasonRoleChanged = "RoleChanged"
	// ReasonAccessGranted: the user's access was granted again (Event only).
	ReasonAccessGranted = "AccessGranted"
	// ReasonQueued: a user with a status already (a resend, access granted again) waits for the next
	// batch window (at most 50 invites at a time). A new user waits without a status write.
	ReasonQueued = "Queued"
	// ReasonResendRefused: a resend was asked for a user who needs no invite (Event only).
	ReasonResendRefused = "ResendRefused"
	// ReasonRoleNotFound: spec.role names no system role and no DashboardRole in the namespace (yet):
	// the user's passcodes carry no permissions. Invites still go out; the user becomes Ready when
	// the role is created (Ready False, Reconciling True: a wait, like a Passcode's missing user).
	ReasonRoleNotFound = "RoleNotFound"
)

// Condition and Event reasons of a DashboardRole.
const (
	// ReasonRoleAvailable: the role exists and applies to the users that name it; the Ready message
	// says how many do.
	ReasonRoleAvailable = "Available"
	// ReasonDeletedInUse: the role was deleted while users still named it (a Warning Event, only on
	// roles an earlier release's finalizer held): they lose its permissions and are not Ready
	// (RoleNotFound) until they get another role.
	ReasonDeletedInUse = "DeletedInUse"
)
