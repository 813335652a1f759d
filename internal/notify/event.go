package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EventType names a lifecycle notification (docs/notifications.md).
type EventType string

// The lifecycle notification types, as --notify-events spells them.
const (
	// EventPasscodeIssued: the first passcode (revision 1) of a Passcode was issued.
	EventPasscodeIssued EventType = "passcode.issued"
	// EventPasscodeRotated: a new passcode replaced another (rotation, reset or repair; see Reason).
	EventPasscodeRotated EventType = "passcode.rotated"
	// EventPasscodeExpiring: a Manual passcode entered its renew window (expiresAt - renewBefore);
	// its owner can act before it expires. Also sent by email (SMTP notifier).
	EventPasscodeExpiring EventType = "passcode.expiring" //nolint:gosec // an event name, not a credential
	// EventPasscodeExpired: a Manual passcode reached expiresAt. Also sent by email (SMTP notifier).
	EventPasscodeExpired EventType = "passcode.expired"
	// EventPasscodeRevoked: a passcode was revoked (spec.revoked, or its user revoked or deleted).
	EventPasscodeRevoked EventType = "passcode.revoked"
	// EventUserRoleChanged: a DashboardUser's spec.role changed.
	EventUserRoleChanged EventType = "user.role-changed"
	// EventUserAccessRevoked: a DashboardUser's spec.access became Revoked.
	EventUserAccessRevoked EventType = "user.access-revoked"
)

// EventTypes returns every lifecycle notification type, in lifecycle order.
func EventTypes() []EventType {
	return []EventType{EventPasscodeIssued, EventPasscodeRotated, EventPasscodeExpiring, EventPasscodeExpired,
		EventPasscodeRevoked, EventUserRoleChanged, EventUserAccessRevoked}
}

// DefaultEvents is the default of --notify-events.
const DefaultEvents = "passcode.expiring,passcode.expired"

// emailed reports whether the SMTP notifier emails the user about events of type t.
func emailed(t EventType) bool {
	return t == EventPasscodeExpiring || t == EventPasscodeExpired
}

// EventSet is a set of event types; the zero value is empty.
type EventSet uint16

func eventBit(t EventType) EventSet {
	for i, e := range EventTypes() {
		if e == t {
			return 1 << i
		}
	}
	return 0
}

// Has reports whether t is in the set.
func (s EventSet) Has(t EventType) bool {
	b := eventBit(t)
	return b != 0 && s&b != 0
}

// With returns the set with t added (unknown types are ignored).
func (s EventSet) With(t EventType) EventSet { return s | eventBit(t) }

// Filter returns the types of s that keep accepts.
func (s EventSet) Filter(keep func(EventType) bool) EventSet {
	var out EventSet
	for _, t := range EventTypes() {
		if s.Has(t) && keep(t) {
			out = out.With(t)
		}
	}
	return out
}

// String lists the set's types comma-separated, in lifecycle order (the --notify-events syntax).
func (s EventSet) String() string {
	var names []string
	for _, t := range EventTypes() {
		if s.Has(t) {
			names = append(names, string(t))
		}
	}
	return strings.Join(names, ",")
}

// ParseEventSet parses a comma-separated list of event types; blanks around names are ignored and
// an empty list is the empty set (no lifecycle notifications). An unknown name is an error that
// lists the allowed ones.
func ParseEventSet(list string) (EventSet, error) {
	var s EventSet
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		b := eventBit(EventType(name))
		if b == 0 {
			allowed := make([]string, 0, len(EventTypes()))
			for _, t := range EventTypes() {
				allowed = append(allowed, string(t))
			}
			return 0, fmt.Errorf("unknown event type %q; allowed: %s", name, strings.Join(allowed, ", "))
		}
		s |= b
	}
	return s, nil
}

// Event is one lifecycle notification. It never holds a passcode, a hash or an invite token: it
// has no field that could.
type Event struct {
	Type    EventType
	Account string // the dashboard project (a Kubernetes namespace)
	User    string // the DashboardUser's name
	// Email is the user's address: the recipient of the emailed types; may be empty (user deleted).
	Email       string
	DisplayName string
	// PasscodeName is the Passcode object's name (passcode events only): never the passcode itself.
	PasscodeName string
	Revision     int64 // the passcode revision the event is about (passcode events only)
	// Reason says why, in the operator's condition reasons (Rotated, Reset, Repaired, Revoked...).
	Reason       string
	Role         string // the user's role (user events; after the change for role-changed)
	PreviousRole string // role-changed only
	OccurredAt   time.Time
	ExpiresAt    time.Time // when the passcode expires or expired (passcode events), else zero
	// IdempotencyKey is derived by EventKey from stable facts: the same on every retry and after a
	// restart, different for every other event.
	IdempotencyKey string
}

// EventKey derives an event's idempotency key from stable facts: its type, the UID of the object
// it is about, and what tells this event from the object's other events of that type (a passcode
// revision; a user generation and roles). It is "evt-" and the hex SHA-256 of them, so it is
// recomputed identically after a restart and never kept in memory.
func EventKey(t EventType, uid string, facts ...string) string {
	h := sha256.New()
	for _, f := range append([]string{string(t), uid}, facts...) {
		h.Write([]byte(f)) // hash.Hash.Write never fails
		h.Write([]byte{0})
	}
	return "evt-" + hex.EncodeToString(h.Sum(nil))
}

// EventNotifier delivers lifecycle notifications. The three notifiers implement it.
type EventNotifier interface {
	// Notify delivers one event. Like Send, it is safe for concurrent use.
	Notify(ctx context.Context, ev Event) error
	// Delivers reports whether the notifier does anything with events of type t: the SMTP notifier
	// only emails passcode.expiring and passcode.expired; the webhook and log notifiers take all.
	Delivers(t EventType) bool
}

// ErrNoRecipient is returned by the SMTP notifier for an event without an Email (the user was
// deleted): there is nobody to write to, and no retry changes that.
var ErrNoRecipient = errors.New("notify: event has no Email to send it to")

// validateEvent checks what every notifier relies on.
func validateEvent(ev Event) error {
	if eventBit(ev.Type) == 0 {
		return fmt.Errorf("notify: unknown event type %q", ev.Type)
	}
	if ev.Account == "" {
		return errors.New("notify: event has no Account")
	}
	if ev.User == "" {
		return errors.New("notify: event has no User")
	}
	if strings.HasPrefix(string(ev.Type), "passcode.") && ev.PasscodeName == "" {
		return errors.New("notify: passcode event has no PasscodeName")
	}
	if ev.OccurredAt.IsZero() {
		return errors.New("notify: event has no OccurredAt")
	}
	return checkIdempotencyKey(ev.IdempotencyKey)
}

// rfc3339 formats t in UTC, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
