package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Values of SMTPConfig.TLS.
const (
	smtpTLSNone     = "none"
	smtpTLSStartTLS = "starttls"
	smtpTLSImplicit = "tls"
)

// defaultTimeout bounds one delivery when the config does not say otherwise: a hung relay or
// receiver must not hold a reconcile worker for long.
const defaultTimeout = 15 * time.Second

// messageIDDomain is the right-hand side of our Message-IDs; a domain we control keeps them
// globally unique without depending on the pod's hostname.
const messageIDDomain = "access-operator.dashboardops.io"

// headerIdempotencyKey carries the IdempotencyKey in emails and webhook requests.
const headerIdempotencyKey = "X-Dashboard-Idempotency-Key"

// SMTPConfig configures the SMTP notifier.
type SMTPConfig struct {
	Address  string // host:port
	From     string // "Name <addr>" or "addr"
	Username string // empty = no auth
	Password string
	TLS      string // "none", "starttls" (required STARTTLS) or "tls" (implicit TLS, e.g. port 465)
	// TLSConfig optionally overrides the tls.Config (tests pass one trusting their own CA); nil = system roots with ServerName = host.
	TLSConfig *tls.Config
	// CAs are PEM certificates trusted for the server in addition to the system roots (or to
	// TLSConfig.RootCAs), e.g. a private CA's; see RootCAs.
	CAs     []byte
	Timeout time.Duration // 0 = 15s
}

// RootCAs returns the system roots plus the certificates of the PEM bundle (--smtp-ca-file).
// The bundle must hold at least one certificate and nothing but certificates; errors say which
// block is wrong, never what it holds.
func RootCAs(bundle []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system roots (e.g. a scratch image): the bundle alone
	}
	if err := addPEMCerts(pool, bundle); err != nil {
		return nil, err
	}
	return pool, nil
}

// addPEMCerts adds every certificate of bundle to pool; see RootCAs.
func addPEMCerts(pool *x509.CertPool, bundle []byte) error {
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is a %q, want only CERTIFICATE blocks", n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("PEM block %d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

// smtpNotifier sends invite emails; see NewSMTP.
type smtpNotifier struct {
	host string
	from *mail.Address
	// opts are applied to a fresh go-mail client on every Send: a client per delivery has no
	// connection state to share between concurrent Sends.
	opts []gomail.Option
}

// NewSMTP returns a notifier that sends a multipart/alternative (text and HTML) email per invite
// through the SMTP server at cfg.Address, using github.com/wneessen/go-mail.
//
// TLS "starttls" refuses servers that do not offer STARTTLS rather than falling back to plain text,
// and "none" never upgrades. With a Username, the strongest mechanism the server offers is chosen
// (go-mail's autodiscovery); PLAIN and LOGIN are only used over TLS, so over "none" only
// challenge-response mechanisms (SCRAM, CRAM-MD5) work and the password never crosses the wire
// in the clear. Each Send opens its own connection; ctx bounds the dial and Timeout each step of
// the conversation.
//
// cfg is validated; errors name the field, e.g. "smtp: From: ...".
func NewSMTP(cfg SMTPConfig) (Deliverer, error) {
	host, portText, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("smtp: Address: %w", err)
	}
	if host == "" {
		return nil, fmt.Errorf("smtp: Address: %q has no host", cfg.Address)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp: Address: %q has no valid port", cfg.Address)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: From: %w", err)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp: Password: set without a Username")
	}
	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("smtp: Timeout: %s is negative", timeout)
	case timeout == 0:
		timeout = defaultTimeout
	}

	tlsConfig, err := clientTLS(cfg, host)
	if err != nil {
		return nil, err
	}

	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
	}
	switch cfg.TLS {
	case smtpTLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case smtpTLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case smtpTLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp: TLS: %q is not one of %q, %q, %q", cfg.TLS, smtpTLSNone, smtpTLSStartTLS, smtpTLSImplicit)
	}
	if cfg.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	// Fail now on options go-mail rejects, not on the first invite.
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &smtpNotifier{host: host, from: from, opts: opts}, nil
}

// clientTLS is the tls.Config of cfg for the server host: cfg.TLSConfig (cloned) or TLS 1.2+ with
// the system roots, plus cfg.CAs; verification is never turned off.
func clientTLS(cfg SMTPConfig, host string) (*tls.Config, error) {
	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone() // ours to adjust, and the caller's stays untouched
	} else {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if len(cfg.CAs) > 0 {
		var err error
		if tlsConfig.RootCAs == nil {
			tlsConfig.RootCAs, err = RootCAs(cfg.CAs)
		} else {
			tlsConfig.RootCAs = tlsConfig.RootCAs.Clone()
			err = addPEMCerts(tlsConfig.RootCAs, cfg.CAs)
		}
		if err != nil {
			return nil, fmt.Errorf("smtp: CAs: %w", err)
		}
	}
	if tlsConfig.ServerName == "" {
		// STARTTLS, unlike tls.Dial, does not derive the name to verify from the address.
		tlsConfig.ServerName = host
	}
	if tlsConfig.MinVersion < tls.VersionTLS12 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	return tlsConfig, nil
}

// Send delivers one invite email. Errors describe the SMTP step that failed, never the message.
func (s *smtpNotifier) Send(ctx context.Context, inv Invite) error {
	rcpt, err := validateInvite(inv)
	if err != nil {
		return err
	}
	msg, err := s.message(inv, rcpt)
	if err != nil {
		return redact(fmt.Errorf("smtp: %w", err), inv)
	}
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return redact(fmt.Errorf("smtp: %w", err), inv)
	}
	return nil
}

// message builds the email for inv.
func (s *smtpNotifier) message(inv Invite, rcpt *mail.Address) (*gomail.Msg, error) {
	subject, text, htmlBody, err := renderEmail(inv)
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg()
	m.FromMailAddress(s.from)
	m.ToMailAddress(&mail.Address{Name: inv.DisplayName, Address: rcpt.Address})
	m.Subject(subject)
	// Derived from the key, so a retry of a delivery that did arrive is the same message to
	// every mail system that deduplicates by Message-ID.
	m.SetMessageIDWithValue("invite-" + inv.IdempotencyKey + "@" + messageIDDomain)
	m.SetGenHeader(headerIdempotencyKey, inv.IdempotencyKey)
	// RFC 3834: tells vacation responders not to answer a machine.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetUserAgent("dashboardops access-operator")
	m.SetDate()
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, htmlBody)
	return m, nil
}

// Delivers: the SMTP notifier emails the user about passcode.expiring and passcode.expired only.
func (s *smtpNotifier) Delivers(t EventType) bool { return emailed(t) }

// Notify emails the user about a passcode.expiring or passcode.expired event (text and HTML, like
// invites; the Message-ID is derived from the idempotency key). Other types are not emailed and
// return nil; an event without an Email returns ErrNoRecipient.
func (s *smtpNotifier) Notify(ctx context.Context, ev Event) error {
	if err := validateEvent(ev); err != nil {
		return err
	}
	if !emailed(ev.Type) {
		return nil
	}
	if ev.Email == "" {
		return ErrNoRecipient
	}
	rcpt, err := ParseRecipient(ev.Email)
	if err != nil {
		return fmt.Errorf("smtp: event Email: %w", err)
	}
	if ev.ExpiresAt.IsZero() {
		return errors.New("smtp: event has no ExpiresAt")
	}
	subject, text, htmlBody, err := renderEventEmail(ev)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	m := gomail.NewMsg()
	m.FromMailAddress(s.from)
	m.ToMailAddress(&mail.Address{Name: ev.DisplayName, Address: rcpt.Address})
	m.Subject(subject)
	m.SetMessageIDWithValue(ev.IdempotencyKey + "@" + messageIDDomain)
	m.SetGenHeader(headerIdempotencyKey, ev.IdempotencyKey)
	m.SetGenHeader(headerEventType, string(ev.Type))
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetUserAgent("dashboardops access-operator")
	m.SetDate()
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, htmlBody)
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

// headerEventType names a lifecycle email's event type.
const headerEventType = "X-Dashboard-Event-Type"
