package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	testFrom     = "Dashboard <dashboard@example.com>"
	testUser     = "relay-user"
	testPassword = "relay-password"
)

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool // the DATA arrived over TLS
}

// testBackend is a go-smtp backend that keeps what it receives in memory.
type testBackend struct {
	requireAuth bool
	// rejectData, when set, decides the answer to DATA instead of accepting.
	rejectData func(data []byte) error

	mu    sync.Mutex
	msgs  []received
	creds [][2]string // username and password of every AUTH attempt
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{b: b, conn: c}, nil
}

func (b *testBackend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

func (b *testBackend) authAttempts() [][2]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][2]string(nil), b.creds...)
}

type testSession struct {
	b      *testBackend
	conn   *smtp.Conn
	authed bool
	cur    received
}

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.b.mu.Lock()
		s.b.creds = append(s.b.creds, [2]string{username, password})
		s.b.mu.Unlock()
		if username != testUser || password != testPassword {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.requireAuth && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from}
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.rejectData != nil {
		return s.b.rejectData(data)
	}
	s.cur.data = data
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.cur = received{} }
func (s *testSession) Logout() error { return nil }

// startSMTP runs a real SMTP server on 127.0.0.1 and returns its address. With serverTLS it offers
// STARTTLS, or speaks TLS from the first byte when implicit; AUTH is only offered over TLS.
func startSMTP(t *testing.T, be *testBackend, serverTLS *tls.Config, implicit bool) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = false
	s.TLSConfig = serverTLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, serverTLS)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return l.Addr().String()
}

// selfSignedTLS makes a certificate for 127.0.0.1 and returns the server's config and a client
// config that trusts only that certificate.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "notify test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

func newSMTP(t *testing.T, cfg SMTPConfig) Notifier {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	n, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parsedEmail is a received message taken apart the way a mail client would.
type parsedEmail struct {
	header mail.Header
	parts  map[string]string // media type → decoded body
}

func parseEmail(t *testing.T, data []byte) parsedEmail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type is %q, want multipart/alternative", mediaType)
	}
	p := parsedEmail{header: msg.Header, parts: map[string]string{}}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part) // NextPart undoes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		p.parts[pt] = string(body)
	}
	return p
}

// checkEmail checks a delivered invite message against the invite it came from.
func checkEmail(t *testing.T, got received, inv Invite) {
	t.Helper()
	if got.from != "dashboard@example.com" || len(got.to) != 1 || got.to[0] != inv.Email {
		t.Errorf("envelope from %q to %v", got.from, got.to)
	}
	e := parseEmail(t, got.data)
	from, err := mail.ParseAddress(e.header.Get("From"))
	if err != nil || from.Name != "Dashboard" || from.Address != "dashboard@example.com" {
		t.Errorf("From = %q (%v)", e.header.Get("From"), err)
	}
	to, err := mail.ParseAddress(e.header.Get("To"))
	if err != nil || to.Name != inv.DisplayName || to.Address != inv.Email {
		t.Errorf("To = %q (%v)", e.header.Get("To"), err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(e.header.Get("Subject"))
	if err != nil || subject != "You are invited to "+inv.Project+" as "+inv.Role {
		t.Errorf("Subject = %q (%v)", e.header.Get("Subject"), err)
	}
	if id := e.header.Get("Message-ID"); id != "<invite-"+inv.IdempotencyKey+"@access-operator.dashboardops.io>" {
		t.Errorf("Message-ID = %q", id)
	}
	if k := e.header.Get("X-Dashboard-Idempotency-Key"); k != inv.IdempotencyKey {
		t.Errorf("X-Dashboard-Idempotency-Key = %q", k)
	}
	if len(e.parts) != 2 {
		t.Errorf("got parts %v, want text/plain and text/html", keys(e.parts))
	}
	for _, pt := range []string{"text/plain", "text/html"} {
		body, ok := e.parts[pt]
		if !ok {
			t.Errorf("no %s part", pt)
			continue
		}
		for _, want := range []string{inv.AcceptURL, inv.Project, inv.Role} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", pt, want, body)
			}
		}
	}
	if html := e.parts["text/html"]; !strings.Contains(html, `<a href="`+inv.AcceptURL+`">`) {
		t.Errorf("html part has no <a href> to the link:\n%s", html)
	}
}

func keys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	return k
}

func TestSMTPNoTLSDelivers(t *testing.T) {
	be := &testBackend{}
	addr := startSMTP(t, be, nil, false)
	inv := testInvite()
	if err := newSMTP(t, SMTPConfig{Address: addr, TLS: "none"}).Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	if msgs[0].tls {
		t.Error("TLS none must not use TLS")
	}
	checkEmail(t, msgs[0], inv)
}

func TestSMTPStartTLSWithAuth(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	be := &testBackend{requireAuth: true}
	addr := startSMTP(t, be, serverTLS, false)
	inv := testInvite()
	n := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls", Username: testUser, Password: testPassword, TLSConfig: clientTLS})
	if err := n.Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	if got := be.authAttempts(); len(got) != 1 || got[0] != [2]string{testUser, testPassword} {
		t.Errorf("server saw AUTH attempts %v", got)
	}
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	if !msgs[0].tls {
		t.Error("message did not arrive over TLS")
	}
	checkEmail(t, msgs[0], inv)
	if clientTLS.ServerName != "" {
		t.Error("NewSMTP changed the caller's tls.Config")
	}
}

func TestSMTPImplicitTLSWithAuth(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	be := &testBackend{requireAuth: true}
	addr := startSMTP(t, be, serverTLS, true)
	inv := testInvite()
	n := newSMTP(t, SMTPConfig{Address: addr, TLS: "tls", Username: testUser, Password: testPassword, TLSConfig: clientTLS})
	if err := n.Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("want one message over TLS, got %d", len(msgs))
	}
	checkEmail(t, msgs[0], inv)
}

func TestSMTPWrongPassword(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	be := &testBackend{requireAuth: true}
	addr := startSMTP(t, be, serverTLS, false)
	inv := testInvite()
	n := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls", Username: testUser, Password: "wrong", TLSConfig: clientTLS})
	err := n.Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if !strings.Contains(err.Error(), "AUTH") || !strings.Contains(err.Error(), "535") {
		t.Errorf("error does not say that AUTH failed: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error contains the password: %v", err)
	}
	if len(be.messages()) != 0 {
		t.Error("message delivered despite failed AUTH")
	}
}

func TestSMTPUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nobody listens there now
	inv := testInvite()
	err = newSMTP(t, SMTPConfig{Address: addr, TLS: "none"}).Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if !strings.HasPrefix(err.Error(), "smtp: ") || !strings.Contains(err.Error(), "dial") {
		t.Errorf("error does not describe the dial failure: %v", err)
	}
}

// TestSMTPRejectionEchoingLinkIsRedacted: a server that quotes the message in its answer must not
// get the link into the error.
func TestSMTPRejectionEchoingLinkIsRedacted(t *testing.T) {
	be := &testBackend{rejectData: func(data []byte) error {
		text := string(data)
		i := strings.Index(text, "http://localhost:8082/invitations/")
		if i < 0 {
			return errors.New("link not found")
		}
		line, _, _ := strings.Cut(text[i:], "\n")
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "blocked URL " + strings.TrimSpace(line)}
	}}
	addr := startSMTP(t, be, nil, false)
	inv := testInvite()
	err := newSMTP(t, SMTPConfig{Address: addr, TLS: "none"}).Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "blocked URL "+redacted) {
		t.Errorf("expected the server's rejection with the link redacted, got: %v", err)
	}
}

func TestSMTPStartTLSIsRequired(t *testing.T) {
	be := &testBackend{}
	addr := startSMTP(t, be, nil, false) // offers no STARTTLS
	err := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls"}).Send(context.Background(), testInvite())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("want an error about missing STARTTLS, got %v", err)
	}
	if len(be.messages()) != 0 {
		t.Error("message delivered in plain text although STARTTLS was required")
	}
}

func TestSMTPVerifiesCertificate(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	be := &testBackend{}
	addr := startSMTP(t, be, serverTLS, false)
	// No TLSConfig: system roots, which do not trust the test's certificate.
	err := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls"}).Send(context.Background(), testInvite())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	if len(be.messages()) != 0 {
		t.Error("message delivered to an untrusted server")
	}
}

// TestSMTPTrustsCAsFromPEM: a server whose certificate a private CA signed is trusted through CAs
// (--smtp-ca-file), on top of the system roots; verification stays on.
func TestSMTPTrustsCAsFromPEM(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverTLS.Certificates[0].Certificate[0]})
	be := &testBackend{}
	addr := startSMTP(t, be, serverTLS, false)
	inv := testInvite()
	if err := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls", CAs: caPEM}).Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("want one message over TLS, got %d", len(msgs))
	}
	checkEmail(t, msgs[0], inv)

	// Another CA's bundle does not make the server trusted.
	otherTLS, _ := selfSignedTLS(t)
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherTLS.Certificates[0].Certificate[0]})
	err := newSMTP(t, SMTPConfig{Address: addr, TLS: "starttls", CAs: otherPEM}).Send(context.Background(), inv)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error with another CA, got %v", err)
	}
}

func TestRootCAsRejectsWhatIsNotACertificate(t *testing.T) {
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-key-bytes")})
	for name, bundle := range map[string][]byte{
		"empty":       nil,
		"not PEM":     []byte("hello"),
		"private key": keyPEM,
		"bad DER":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}),
	} {
		_, err := RootCAs(bundle)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "secret-key-bytes") {
			t.Errorf("%s: error carries the content: %v", name, err)
		}
		if _, err := NewSMTP(SMTPConfig{Address: "127.0.0.1:25", From: testFrom, TLS: "starttls", CAs: bundle}); name != "empty" &&
			(err == nil || !strings.Contains(err.Error(), "smtp: CAs:")) {
			t.Errorf("%s: NewSMTP error %v does not name CAs", name, err)
		}
	}
}

// TestSMTPNoPasswordInClear: without TLS, a server offering only PLAIN does not get the password.
func TestSMTPNoPasswordInClear(t *testing.T) {
	be := &testBackend{requireAuth: true}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true // offers AUTH PLAIN over plain text
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })

	n := newSMTP(t, SMTPConfig{Address: l.Addr().String(), TLS: "none", Username: testUser, Password: testPassword})
	if err := n.Send(context.Background(), testInvite()); err == nil {
		t.Fatal("want an error: no mechanism is safe without TLS")
	}
	if got := be.authAttempts(); len(got) != 0 {
		t.Fatalf("password sent without TLS: %v", got)
	}
}

func TestSMTPConcurrentSends(t *testing.T) {
	be := &testBackend{}
	addr := startSMTP(t, be, nil, false)
	n := newSMTP(t, SMTPConfig{Address: addr, TLS: "none"})
	const count = 8
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			inv := testInvite()
			inv.IdempotencyKey = fmt.Sprintf("uid-%d", i)
			if err := n.Send(context.Background(), inv); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range be.messages() {
		seen[parseEmail(t, m.data).header.Get("X-Dashboard-Idempotency-Key")] = true
	}
	if len(seen) != count {
		t.Fatalf("got %d distinct messages, want %d", len(seen), count)
	}
}
