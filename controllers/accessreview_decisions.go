package controllers

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/duration"
)

// Pure decisions of the AccessReviewReconciler: the snapshot, the tally, what the deadline does to
// each user, and when a recurring review creates the next one. Functions of the objects and "now".

// maxSnapshotPasscodes bounds the Passcodes recorded per user (the rest are counted).
const maxSnapshotPasscodes = 10

// reviewSelector is the review's user selector (everything when unset), or an error naming the field.
func reviewSelector(rv *accessv1alpha1.AccessReview) (labels.Selector, error) {
	if rv.Spec.Selector == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(rv.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("spec.selector: %w", err)
	}
	return sel, nil
}

// snapshot records the users sel matches (those being deleted have lost their access already and
// are left out) with their Passcodes, sorted by email. It fails when more than
// MaxReviewUsers match: one review object cannot hold them.
func snapshot(sel labels.Selector, users []accessv1alpha1.DashboardUser, passcodes []accessv1alpha1.Passcode) ([]accessv1alpha1.ReviewedUser, error) {
	byUser := map[string][]accessv1alpha1.Passcode{}
	for _, pc := range passcodes {
		byUser[pc.Spec.UserRef.Name] = append(byUser[pc.Spec.UserRef.Name], pc)
	}
	var out []accessv1alpha1.ReviewedUser
	for i := range users {
		u := &users[i]
		if !u.DeletionTimestamp.IsZero() || !sel.Matches(labels.Set(u.Labels)) {
			continue
		}
		ru := accessv1alpha1.ReviewedUser{
			Name: u.Name, UID: string(u.UID), Email: u.Spec.Email, DisplayName: u.Spec.DisplayName,
			Role: string(u.Spec.Role), Status: u.Status.Phase, LastLoginAt: u.Status.LastLoginAt,
		}
		if u.Spec.Access == accessv1alpha1.AccessRevoked {
			ru.Status = accessv1alpha1.UserRevoked
		}
		pcs := byUser[u.Name]
		slices.SortFunc(pcs, func(a, b accessv1alpha1.Passcode) int { return cmp.Compare(a.Name, b.Name) })
		for j, pc := range pcs {
			if j == maxSnapshotPasscodes {
				ru.MorePasscodes = int32(len(pcs) - maxSnapshotPasscodes) //nolint:gosec // bounded by the namespace's Passcodes
				break
			}
			ru.Passcodes = append(ru.Passcodes, accessv1alpha1.ReviewedPasscode{Name: pc.Name, Phase: pc.Status.Phase, LastUsedAt: pc.Status.LastUsedAt})
		}
		out = append(out, ru)
	}
	if len(out) > accessv1alpha1.MaxReviewUsers {
		return nil, fmt.Errorf("%d users match the review, and one review covers at most %d: split it with spec.selector (by role or team label)",
			len(out), accessv1alpha1.MaxReviewUsers)
	}
	slices.SortFunc(out, func(a, b accessv1alpha1.ReviewedUser) int { return cmp.Compare(a.Email, b.Email) })
	return out, nil
}

// tally counts the snapshot's decided and undecided users, and lists the decisions for emails the
// snapshot does not hold (sorted): they are ignored and reported.
func tally(rv *accessv1alpha1.AccessReview) (decided, undecided int32, unknown []string) {
	in := make(map[string]bool, len(rv.Status.Users))
	for _, u := range rv.Status.Users {
		in[u.Email] = true
	}
	seen := map[string]bool{}
	for _, d := range rv.Spec.Decisions {
		if in[d.Email] {
			if !seen[d.Email] {
				decided++
			}
			seen[d.Email] = true
		} else {
			unknown = append(unknown, d.Email)
		}
	}
	slices.Sort(unknown)
	return decided, int32(len(rv.Status.Users)) - decided, unknown //nolint:gosec // at most MaxReviewUsers
}

// reviewAction is what the deadline does to one snapshot user.
type reviewAction struct {
	index    int // in status.users
	decision accessv1alpha1.AccessReviewDecision
	revoke   bool // the user is to lose its access
	explicit bool // a reviewer decided (else the default applies)
}

// deadlineActions decides, for every snapshot user, the decision that applies at the deadline: the
// reviewer's, else the default.
func deadlineActions(rv *accessv1alpha1.AccessReview) []reviewAction {
	decisions := make(map[string]accessv1alpha1.AccessReviewDecision, len(rv.Spec.Decisions))
	for _, d := range rv.Spec.Decisions {
		decisions[d.Email] = d
	}
	def := rv.Spec.DefaultDecision
	if def == "" {
		def = accessv1alpha1.ReviewRevoke
	}
	out := make([]reviewAction, 0, len(rv.Status.Users))
	for i, u := range rv.Status.Users {
		d, ok := decisions[u.Email]
		if !ok {
			d = accessv1alpha1.AccessReviewDecision{Email: u.Email, Decision: def}
		}
		out = append(out, reviewAction{index: i, decision: d, revoke: d.Decision == accessv1alpha1.ReviewRevoke, explicit: ok})
	}
	return out
}

// reviewMessage is Ready's message for an open review.
func reviewMessage(decided, undecided int32, unknown []string, deadline time.Time, def accessv1alpha1.ReviewDecision) string {
	msg := fmt.Sprintf("%d decided, %d undecided; at %s the undecided get the default decision (%s)",
		decided, undecided, deadline.UTC().Format(time.RFC3339), cmp.Or(def, accessv1alpha1.ReviewRevoke))
	if len(unknown) > 0 {
		shown := unknown
		if len(shown) > 5 {
			shown = shown[:5]
		}
		msg += fmt.Sprintf("; %d decisions name users this review does not hold and are ignored: %s", len(unknown), strings.Join(shown, ", "))
		if len(unknown) > 5 {
			msg += ", ..."
		}
	}
	return msg
}

// minScheduleGap is the shortest time between two reviews a schedule creates.
const minScheduleGap = 24 * time.Hour

// cronParser reads spec.schedule as a CronJob does: five fields, or a descriptor such as @weekly.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// reviewSchedule parses spec.schedule and spec.duration of a recurring review, with errors naming
// the field and what is allowed.
func reviewSchedule(rv *accessv1alpha1.AccessReview) (cron.Schedule, time.Duration, error) {
	if strings.HasPrefix(strings.TrimSpace(rv.Spec.Schedule), "TZ=") || strings.HasPrefix(strings.TrimSpace(rv.Spec.Schedule), "CRON_TZ=") {
		return nil, 0, fmt.Errorf("spec.schedule: time zones are not supported; schedules are in UTC (five fields: minute hour day-of-month month day-of-week)")
	}
	sched, err := cronParser.Parse(rv.Spec.Schedule)
	if err != nil {
		return nil, 0, fmt.Errorf("spec.schedule: %w (five fields: minute hour day-of-month month day-of-week, "+
			"e.g. \"0 9 1 */3 *\", or @daily, @weekly, @monthly)", err)
	}
	open, err := duration.InRange(rv.Spec.Duration, time.Hour, 90*duration.Day)
	if err != nil {
		return nil, 0, fmt.Errorf("spec.duration: %w", err)
	}
	// Each review lists the project live and keeps up to 1000 users in etcd, with the operator's
	// rights: a team's schedule may make one a day at most, not one a minute.
	if first := sched.Next(rv.CreationTimestamp.Time); !first.IsZero() {
		if gap := sched.Next(first).Sub(first); gap < minScheduleGap {
			return nil, 0, fmt.Errorf("spec.schedule: %q runs every %s; a review may be scheduled at most once a day", rv.Spec.Schedule, gap)
		}
	}
	return sched, open, nil
}

// dueTick is the latest schedule time in (last, now], if any (missed times before it are not made
// up, as a CronJob makes up only its latest missed run), and the next time after now.
func dueTick(sched cron.Schedule, last, now time.Time) (due time.Time, next time.Time) {
	for t := sched.Next(last); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due, sched.Next(now)
}

// scheduledName is the name of the review a recurring review creates at tick.
func scheduledName(series string, tick time.Time) string {
	return series + "-" + tick.UTC().Format("20060102-1504")
}

// scheduledReview is the review a recurring review creates at tick.
func scheduledReview(series *accessv1alpha1.AccessReview, tick time.Time, open time.Duration) *accessv1alpha1.AccessReview {
	return &accessv1alpha1.AccessReview{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: series.Namespace, Name: scheduledName(series.Name, tick),
			Labels: map[string]string{accessv1alpha1.ReviewSeriesLabel: series.Name},
		},
		Spec: accessv1alpha1.AccessReviewSpec{
			Deadline:        ptrTime(tick.Add(open)),
			DefaultDecision: series.Spec.DefaultDecision,
			Reviewers:       slices.Clone(series.Spec.Reviewers),
			Selector:        series.Spec.Selector.DeepCopy(),
		},
	}
}

// previousReview is the review this one is compared with: the latest completed before its
// snapshot, of the same schedule when it has one and such a review exists.
func previousReview(rv *accessv1alpha1.AccessReview, all []accessv1alpha1.AccessReview, snapshotAt time.Time) string {
	series := rv.Labels[accessv1alpha1.ReviewSeriesLabel]
	var best, bestSeries *accessv1alpha1.AccessReview
	for i := range all {
		o := &all[i]
		if o.Name == rv.Name || o.Status.Phase != accessv1alpha1.ReviewCompleted || o.Status.CompletedAt == nil ||
			!o.Status.CompletedAt.Time.Before(snapshotAt) {
			continue
		}
		if best == nil || o.Status.CompletedAt.After(best.Status.CompletedAt.Time) {
			best = o
		}
		if series != "" && o.Labels[accessv1alpha1.ReviewSeriesLabel] == series &&
			(bestSeries == nil || o.Status.CompletedAt.After(bestSeries.Status.CompletedAt.Time)) {
			bestSeries = o
		}
	}
	switch {
	case bestSeries != nil:
		return bestSeries.Name
	case best != nil:
		return best.Name
	}
	return ""
}
