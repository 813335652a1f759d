// Package notify delivers invites: one Invite, one Notifier, one Send. It has no Kubernetes imports,
// so the controllers can be tested with a fake Notifier and this package without a cluster.
//
// Beside invites it delivers lifecycle notifications (event.go): an Event of one of EventTypes,
// chosen by an EventSet (--notify-events), through EventNotifier.Notify, which the three notifiers
// implement (SMTP emails only passcode.expiring and passcode.expired). An Event has no field for a
// passcode, a hash or an invite link, and its IdempotencyKey is derived by EventKey from stable
// facts, so a restarted manager derives the same key for the same event (docs/notifications.md).
//
// There are three notifiers, chosen by --notifier (each a Deliverer: invites and events):
//
//   - NewLog prints the accept link to a writer (stdout). It is the flag's default, and allowed
//     only with --dev (make dev, local clusters): anyone who may read the manager's logs could use
//     the links.
//   - NewSMTP sends a multipart (text and HTML) email through an SMTP relay, with STARTTLS or
//     implicit TLS and optional SMTP AUTH: the usual choice in production, everybody has an inbox.
//   - NewWebhook POSTs a signed JSON document to a URL, for organisations that deliver through
//     their own system (chat, ticketing, a mail API) instead of SMTP.
//
// # Idempotency
//
// The caller retries a failed Send, and a Send that timed out may still have been delivered. Every
// Invite therefore carries an IdempotencyKey, "<user UID>-<invite number>", that is the same on
// every retry of one invite and different for a resend. The SMTP notifier puts it in the
// Message-ID (mail systems and clients collapse duplicates by it) and in an
// X-Dashboard-Idempotency-Key header; the webhook notifier sends it as Idempotency-Key and
// X-Dashboard-Idempotency-Key, so receivers can drop repeats.
//
// # Secrets in errors
//
// The AcceptURL contains a one-time token that lets whoever holds it join the project. Errors from
// Send end up in Kubernetes status conditions, events and logs, which many more people can read
// than the invitee's inbox, so an error never contains the AcceptURL or its token: errors describe
// what failed (dial, TLS, AUTH, a status code) without the message, and as a last line of defence
// every error is scrubbed of the link and the token before it is returned. The log notifier is
// the one deliberate exception in what it writes (not in its errors): printing the link is its job.
package notify
