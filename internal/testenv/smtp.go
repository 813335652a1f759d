package testenv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Email is one message the SMTP server accepted.
type Email struct {
	From string
	To   []string
	// Header is the message's header; Data the whole message as received.
	Header mail.Header
	Data   []byte
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on loopback, without TLS or
// authentication, for the manager's --notifier=smtp --smtp-tls=none in end-to-end tests.
type SMTPServer struct {
	// Addr is for --smtp-address.
	Addr string

	server *smtp.Server
	done   chan struct{}

	mu   sync.Mutex
	msgs []Email
}

// StartSMTPServer starts a server on a free loopback port.
func StartSMTPServer() (*SMTPServer, error) { return StartSMTPServerOn("127.0.0.1") }

// StartSMTPServerOn starts a server on a free port of host (the node tests use the host's address,
// which Pods reach).
func StartSMTPServerOn(host string) (*SMTPServer, error) {
	s := &SMTPServer{done: make(chan struct{})}
	s.server = smtp.NewServer(smtpBackend{s})
	s.server.Domain = "localhost"
	s.server.ReadTimeout = 10 * time.Second
	s.server.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	s.Addr = l.Addr().String()
	go func() {
		defer close(s.done)
		_ = s.server.Serve(l)
	}()
	return s, nil
}

// Close stops the server.
func (s *SMTPServer) Close() {
	_ = s.server.Close()
	<-s.done
}

// Messages returns every message accepted so far, in arrival order.
func (s *SMTPServer) Messages() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Email(nil), s.msgs...)
}

type smtpBackend struct{ s *SMTPServer }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: b.s}, nil }

type smtpSession struct {
	s   *SMTPServer
	cur Email
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.cur = Email{From: from}
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.cur.To = append(x.cur.To, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return errors.New("554 not a mail message")
	}
	x.cur.Data, x.cur.Header = data, msg.Header
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, x.cur)
	x.s.mu.Unlock()
	return nil
}

func (x *smtpSession) Reset()        { x.cur = Email{} }
func (x *smtpSession) Logout() error { return nil }
