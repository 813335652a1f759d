package notify

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// logNotifier prints invites for humans; see NewLog.
type logNotifier struct {
	mu sync.Mutex // one Fprintf per line keeps concurrent invites from interleaving
	w  io.Writer
}

// NewLog returns the development notifier: it prints one line per invite to w, e.g.
//
//	Invite for jane@example.com (Member in project default): open http://localhost:8082/invitations/<token> (expires 2026-...)
//
// Printing the link is its whole purpose (make dev: there is no mail server, the developer clicks
// the link). It writes to w, never to the logr logger, so that the secret link stays out of the
// structured logs that are collected and kept.
func NewLog(w io.Writer) Deliverer {
	return &logNotifier{w: w}
}

// Send prints the invite line.
func (l *logNotifier) Send(ctx context.Context, inv Invite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rcpt, err := validateInvite(inv)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = fmt.Fprintf(l.w, "Invite for %s (%s in project %s): open %s (expires %s)\n",
		rcpt.Address, inv.Role, inv.Project, inv.AcceptURL, inv.ExpiresAt.UTC().Format(time.RFC3339))
	if err != nil {
		return redact(fmt.Errorf("log notifier: write: %w", err), inv)
	}
	return nil
}

// Delivers: the log notifier prints every lifecycle event type.
func (l *logNotifier) Delivers(t EventType) bool { return eventBit(t) != 0 }

// Notify prints one line per lifecycle event, e.g.
//
//	Notification passcode.expiring in project default: user jane, passcode jane-api revision 3 (expires 2026-...) [evt-...]
//
// The line names objects and times only: an event holds no secret.
func (l *logNotifier) Notify(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateEvent(ev); err != nil {
		return err
	}
	line := fmt.Sprintf("Notification %s in project %s: user %s", ev.Type, ev.Account, ev.User)
	if ev.PasscodeName != "" {
		line += fmt.Sprintf(", passcode %s revision %d", ev.PasscodeName, ev.Revision)
	}
	if ev.PreviousRole != "" {
		line += fmt.Sprintf(", role %s -> %s", ev.PreviousRole, ev.Role)
	}
	if ev.Reason != "" {
		line += " (" + ev.Reason + ")"
	}
	if !ev.ExpiresAt.IsZero() {
		line += " expires " + rfc3339(ev.ExpiresAt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := fmt.Fprintf(l.w, "%s [%s]\n", line, ev.IdempotencyKey); err != nil {
		return fmt.Errorf("log notifier: write: %w", err)
	}
	return nil
}
