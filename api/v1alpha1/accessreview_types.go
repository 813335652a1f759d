package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReviewDecision is what a reviewer decided for one user's access.
// +kubebuilder:validation:Enum=Keep;Revoke
type ReviewDecision string

// The decisions of an access review.
const (
	ReviewKeep   ReviewDecision = "Keep"
	ReviewRevoke ReviewDecision = "Revoke"
)

// MaxReviewUsers bounds the users one AccessReview covers: its snapshot and its decisions live in
// the one object, which must stay far below etcd's 1.5 MiB. A bigger project splits its review with
// spec.selector (by role, team label, ...).
const MaxReviewUsers = 1000

// AccessReviewDecision is one reviewer's decision about one user, keyed by the user's email.
type AccessReviewDecision struct {
	// email is the user's email, as in its DashboardUser's spec.email and the review's snapshot.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@[^@\\\\s]+$')",message="must be an email address (local@domain)"
	Email string `json:"email"`

	// decision is Keep or Revoke.
	// +required
	Decision ReviewDecision `json:"decision"`

	// reason says why, for the auditors (at most 512 characters).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\p{Cc}')",message="must not contain control characters (newlines, tabs, escape sequences)"
	Reason string `json:"reason,omitempty"`

	// decidedBy is who decided: the Kubernetes user of `kubectl dashboard review decide` or of the
	// users page, or whatever a decision committed to Git says.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	DecidedBy string `json:"decidedBy,omitempty"`

	// decidedAt is when the decision was made.
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`
}

// AccessReviewSpec is a review of who keeps access to a dashboard project (the namespace).
// +kubebuilder:validation:XValidation:rule="has(self.deadline) != has(self.schedule)",message="set either spec.deadline (one review) or spec.schedule with spec.duration (a review created on a schedule), not both and not neither"
// +kubebuilder:validation:XValidation:rule="has(self.schedule) == has(self.duration)",message="spec.duration (how long each scheduled review stays open, e.g. 14d) goes with spec.schedule, and only with it"
// +kubebuilder:validation:XValidation:rule="!has(self.schedule) || !has(self.decisions) || size(self.decisions) == 0",message="spec.decisions belong to the reviews a schedule creates, not to the schedule"
type AccessReviewSpec struct {
	// deadline is when the review completes: users decided Revoke, and undecided users when
	// defaultDecision is Revoke, lose their access then.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// defaultDecision applies at the deadline to users nobody decided about: Revoke (the default,
	// as access certifications do) or Keep.
	// +optional
	// +kubebuilder:default=Revoke
	DefaultDecision ReviewDecision `json:"defaultDecision,omitempty"`

	// reviewers are the emails of the people asked to review (informational: shown and exported).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=254
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[^@\\\\s]+@[^@\\\\s]+$')",message="must be an email address (local@domain)"
	Reviewers []string `json:"reviewers,omitempty"`

	// selector limits the review to the DashboardUsers whose labels match (every user of the
	// namespace when unset). A review covers at most 1000 users: split a bigger project by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// decisions are the reviewers' decisions, one per user email. Edit them in Git, or with
	// `kubectl dashboard review decide` and the users page, which also record who and when.
	// +optional
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=1000
	Decisions []AccessReviewDecision `json:"decisions,omitempty"`

	// schedule, a cron expression in UTC ("0 9 1 */3 *": quarterly), makes this object a
	// recurring review: at each time it creates a review named <name>-<yyyymmdd-hhmm> with this
	// spec's defaultDecision, reviewers and selector, open for spec.duration. It never reviews
	// anyone itself.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule,omitempty"`

	// duration is how long each scheduled review stays open: a whole number followed by d, h or m,
	// at least 1h and at most 90d.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^[1-9][0-9]{0,5}[mhd]$')",message="must be a whole number followed by d, h or m, e.g. 14d"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[1-9][0-9]{0,5}[mhd]$') || (int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) >= 60 && int(self.substring(0, self.size() - 1)) * (self.endsWith('d') ? 1440 : (self.endsWith('h') ? 60 : 1)) <= 129600)",message="must be at least 1h and at most 90d"
	Duration string `json:"duration,omitempty"`
}

// AccessReviewPhase is where a review stands.
type AccessReviewPhase string

// The phases of an AccessReview.
const (
	// ReviewOpen: the snapshot is taken and decisions are being made.
	ReviewOpen AccessReviewPhase = "Open"
	// ReviewCompleted: the deadline passed and the decisions were carried out.
	ReviewCompleted AccessReviewPhase = "Completed"
	// ReviewScheduled: a recurring review (spec.schedule), which creates the reviews.
	ReviewScheduled AccessReviewPhase = "Scheduled"
	// ReviewInvalid: the review cannot be carried out as written (see Ready).
	ReviewInvalid AccessReviewPhase = "Invalid"
)

// ReviewOutcome is what the review did to one user at its deadline.
type ReviewOutcome string

// The outcomes of a completed review.
const (
	OutcomeKept           ReviewOutcome = "Kept"
	OutcomeRevoked        ReviewOutcome = "Revoked"
	OutcomeAlreadyRevoked ReviewOutcome = "AlreadyRevoked"
	// OutcomeRemoved: the user was deleted before the deadline.
	OutcomeRemoved ReviewOutcome = "Removed"
)

// ReviewedPasscode is one of a user's Passcodes as the review saw it.
type ReviewedPasscode struct {
	// name of the Passcode.
	Name string `json:"name"`
	// phase of the Passcode at the snapshot.
	// +optional
	Phase PasscodePhase `json:"phase,omitempty"`
	// lastUsedAt is the passcode's last successful use at the snapshot.
	// +optional
	LastUsedAt *metav1.Time `json:"lastUsedAt,omitempty"`
}

// ReviewedUser is one user as the review's snapshot saw it, and, once the review completed, the
// decision applied and its outcome: the evidence the review keeps.
type ReviewedUser struct {
	// name of the DashboardUser.
	Name string `json:"name"`
	// uid of the DashboardUser at the snapshot: a user deleted and created again under the same
	// name is not the one reviewed.
	// +optional
	UID string `json:"uid,omitempty"`
	// email of the user.
	Email string `json:"email"`
	// displayName of the user.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// role of the user at the snapshot.
	Role string `json:"role"`
	// status is the user's phase at the snapshot (Invited, Active, Revoked, ...).
	// +optional
	Status UserPhase `json:"status,omitempty"`
	// lastLoginAt at the snapshot.
	// +optional
	LastLoginAt *metav1.Time `json:"lastLoginAt,omitempty"`
	// passcodes of the user at the snapshot (at most 10; morePasscodes counts the rest).
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Passcodes []ReviewedPasscode `json:"passcodes,omitempty"`
	// morePasscodes counts the user's Passcodes beyond the 10 listed.
	// +optional
	MorePasscodes int32 `json:"morePasscodes,omitempty"`

	// decision applied at the deadline, with who made it (empty: the default decision).
	// +optional
	Decision ReviewDecision `json:"decision,omitempty"`
	// decidedBy, decidedAt and reason are copied from the decision at the deadline.
	// +optional
	DecidedBy string `json:"decidedBy,omitempty"`
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// outcome at the deadline: Kept, Revoked, AlreadyRevoked, or Removed (deleted meanwhile).
	// +optional
	Outcome ReviewOutcome `json:"outcome,omitempty"`
}

// AccessReviewStatus is the snapshot, the progress, and once completed the evidence.
type AccessReviewStatus struct {
	// phase: Open, Completed, Scheduled (a recurring review) or Invalid.
	// +optional
	Phase AccessReviewPhase `json:"phase,omitempty"`

	// snapshotAt is when the users were recorded.
	// +optional
	SnapshotAt *metav1.Time `json:"snapshotAt,omitempty"`

	// users are the reviewed users as recorded at the snapshot (and their outcomes once completed).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Users []ReviewedUser `json:"users,omitempty"`

	// total users in the snapshot; decided: how many have a decision; the rest are undecided.
	// +optional
	Total int32 `json:"total"`
	// +optional
	Decided int32 `json:"decided"`
	// +optional
	Undecided int32 `json:"undecided"`
	// kept and revoked count the outcomes once completed.
	// +optional
	Kept int32 `json:"kept,omitempty"`
	// +optional
	Revoked int32 `json:"revoked,omitempty"`

	// unknownDecisions are decision emails that are not in the snapshot (ignored; see Ready).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	UnknownDecisions []string `json:"unknownDecisions,omitempty"`

	// completedAt is when the decisions were carried out.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// previousReview is the completed review this one is compared with in its export (the
	// namespace's latest one completed before this snapshot, of the same schedule when scheduled).
	// +optional
	PreviousReview string `json:"previousReview,omitempty"`

	// lastScheduleTime (a recurring review) is the last time a review was created; nextScheduleTime
	// the next.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// lastCreated is the review the schedule created last.
	// +optional
	LastCreated string `json:"lastCreated,omitempty"`

	// observedGeneration is the generation the status was last computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (kstatus-compatible).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ReviewSeriesLabel marks the reviews a recurring review created, with its name.
const ReviewSeriesLabel = "access.dashboardops.io/review-schedule"

// AccessReview asks reviewers to confirm who keeps access to a dashboard project. On creation it
// records every user (status.users); reviewers record decisions in spec.decisions; at the deadline
// the users decided Revoke (and, by default, those nobody decided about) lose their access, and the
// review keeps the evidence. With spec.schedule it creates such reviews on a schedule instead.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=arev,categories=dashboard
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Deadline",type=date,JSONPath=`.spec.deadline`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Undecided",type=integer,JSONPath=`.status.undecided`
// +kubebuilder:printcolumn:name="Revoked",type=integer,JSONPath=`.status.revoked`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`,priority=1
// +kubebuilder:printcolumn:name="Next",type=date,JSONPath=`.status.nextScheduleTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.schedule) || self.metadata.name.size() <= 48",message="metadata.name of a scheduled review must be at most 48 characters: the reviews it creates add -yyyymmdd-hhmm"
type AccessReview struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the review: its deadline, default, reviewers and decisions.
	// +required
	Spec AccessReviewSpec `json:"spec"`

	// status is the snapshot and the evidence.
	// +optional
	Status AccessReviewStatus `json:"status,omitempty"`
}

// AccessReviewList is a list of AccessReviews.
//
// +kubebuilder:object:root=true
type AccessReviewList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessReview `json:"items"`
}
