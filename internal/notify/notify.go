package notify

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// Invite is one invitation to deliver.
type Invite struct {
	Project        string    // the dashboard project (a Kubernetes namespace)
	Email          string    // recipient
	DisplayName    string    // may be empty
	Role           string    // Admin, Creator, Member or Approver
	AcceptURL      string    // <public URL>/invitations/<token>: SECRET, it contains a one-time token
	ExpiresAt      time.Time // when the link stops working
	IdempotencyKey string    // "<user UID>-<invite number>", the same on every retry of one invite
}

// Notifier delivers invites. Send must be safe for concurrent use. The error it returns never
// contains the AcceptURL or the token, because it ends up in Kubernetes status and logs.
type Notifier interface {
	Send(ctx context.Context, inv Invite) error
}

// Deliverer delivers invites and lifecycle events: what the log, SMTP and webhook notifiers are,
// so that the manager's wiring is handed both without asking.
type Deliverer interface {
	Notifier
	EventNotifier
}

// maxIdempotencyKey bounds the key: it goes into a Message-ID and HTTP headers, and a UID plus an
// invite number is far shorter.
const maxIdempotencyKey = 200

// validateInvite checks what every notifier relies on, so that a bad invite fails the same way in
// make dev as in production. It returns the parsed recipient. Its errors never quote the AcceptURL.
func validateInvite(inv Invite) (*mail.Address, error) {
	if inv.Project == "" {
		return nil, errors.New("notify: invite has no Project")
	}
	if inv.Role == "" {
		return nil, errors.New("notify: invite has no Role")
	}
	rcpt, err := ParseRecipient(inv.Email)
	if err != nil {
		return nil, fmt.Errorf("notify: invite Email: %w", err)
	}
	// url.Parse errors quote their input, so only say what is wrong.
	u, err := url.Parse(inv.AcceptURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notify: invite AcceptURL is not an absolute http(s) URL")
	}
	if inv.ExpiresAt.IsZero() {
		return nil, errors.New("notify: invite has no ExpiresAt")
	}
	if err := checkIdempotencyKey(inv.IdempotencyKey); err != nil {
		return nil, err
	}
	return rcpt, nil
}

// maxDomainLabel is the longest label DNS can carry (RFC 1035): a domain with a longer one has no
// mail server, so an address there can never be delivered to.
const maxDomainLabel = 63

// ParseRecipient parses a recipient as every notifier does: an RFC 5322 address (net/mail) whose
// domain labels DNS can resolve. It agrees with the CRD's rule on spec.email for every address the
// API accepts (api/v1alpha1/email_agreement_test.go).
func ParseRecipient(email string) (*mail.Address, error) {
	rcpt, err := mail.ParseAddress(email)
	if err != nil {
		return nil, err
	}
	domain := rcpt.Address[strings.LastIndexByte(rcpt.Address, '@')+1:]
	for _, label := range strings.Split(domain, ".") {
		if len(label) > maxDomainLabel {
			return nil, fmt.Errorf("mail: a label of the domain is %d characters long, more than the %d DNS allows", len(label), maxDomainLabel)
		}
	}
	return rcpt, nil
}

// checkIdempotencyKey allows only characters that are safe unquoted in a Message-ID and in an HTTP
// header (a UID is hex and dashes), so the key can be used verbatim everywhere.
func checkIdempotencyKey(key string) error {
	if key == "" {
		return errors.New("notify: invite has no IdempotencyKey")
	}
	if len(key) > maxIdempotencyKey {
		return fmt.Errorf("notify: invite IdempotencyKey is longer than %d bytes", maxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return errors.New("notify: invite IdempotencyKey may only contain letters, digits, '-', '.' and '_'")
		}
	}
	return nil
}

// minRedactedToken keeps redaction from mangling error texts when a (test) token is tiny; real
// tokens are 26 characters.
const minRedactedToken = 6

// redacted replaces a secret in error texts.
const redacted = "[redacted]"

// secrets returns the strings that must never appear in an error: the link in the forms a
// library might echo it, and the bare token.
func secrets(inv Invite) []string {
	if inv.AcceptURL == "" {
		return nil
	}
	s := []string{inv.AcceptURL, html.EscapeString(inv.AcceptURL), url.QueryEscape(inv.AcceptURL)}
	if t := token(inv.AcceptURL); len(t) >= minRedactedToken {
		s = append(s, t)
	}
	return s
}

// token returns the secret part of an accept link: the segment after "/invitations/", or the last
// path segment if the link has another shape.
func token(acceptURL string) string {
	p := acceptURL
	if u, err := url.Parse(acceptURL); err == nil {
		p = u.Path
	}
	if i := strings.LastIndex(p, "/invitations/"); i >= 0 {
		p = p[i+len("/invitations/"):]
	} else if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[i+1:]
	}
	return strings.Trim(p, "/")
}

// redact is the last line of defence behind errors that are written without the link anyway: a
// server or library may still echo part of the message (an SMTP server quoting a rejected line,
// say). An error that needed scrubbing loses its chain, since the wrapped errors still hold the
// secret and errors.As would hand them out; a clean one is returned as it is.
func redact(err error, inv Invite) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets(inv) {
		clean = strings.ReplaceAll(clean, s, redacted)
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
