package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var mailLink = regexp.MustCompile(`http://\S+/invitations/[A-Z2-7]{26}`)

// TestInvitesThroughMailpit runs the manager binary (through `make dev`'s runner) with
// --notifier=smtp against a real mail server, mailpit (built by hack/mailpit.sh), that requires
// STARTTLS with a certificate from a private CA the manager trusts through --smtp-ca-file. The
// invite is read back through mailpit's HTTP API, its link accepted in chromium, and the user
// becomes Active. Then mailpit is stopped: a second user's status says the delivery failed and
// why, and once mailpit is back on the same port (same database) the invite arrives, the user is
// Invited, and every user has exactly one message.
func TestInvitesThroughMailpit(t *testing.T) {
	t.Parallel()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run does)")
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := writeSMTPCerts(t, dir)
	mp := &mailpit{t: t, bin: mailpitBinary(t), dir: dir, smtpPort: freePort(t), httpPort: freePort(t), cert: certFile, key: keyFile}
	mp.start()
	defer mp.stop()
	mp.refusesPlainText()

	port := freePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", port)
	dev := startDev(t, t.TempDir(), "--notifier=smtp", "--smtp-address="+mp.smtpAddr(), "--smtp-tls=starttls",
		"--smtp-ca-file="+caFile, "--smtp-from=Dashboard <dashboard@example.com>",
		fmt.Sprintf("--access-bind-address=127.0.0.1:%d", port), "--public-url="+public)
	defer dev.interrupt()
	c := dev.client()

	// Delivered over STARTTLS, read back through the API, accepted in chromium.
	createUser(t, c, "ana")
	var link string
	waitFor(t, 30*time.Second, "mailpit to receive ana's invite", func() bool {
		msgs := mp.messagesTo("ana@example.com")
		if len(msgs) == 1 {
			link = mailLink.FindString(mp.text(msgs[0].ID))
		}
		return link != ""
	})
	if !strings.HasPrefix(link, public+"/invitations/") {
		t.Fatalf("link %q does not start with --public-url", link)
	}
	invited, welcome, _ := acceptInBrowser(t, browser, link)
	if invited != "You were invited to default as Member" || welcome != "Welcome to default" {
		t.Errorf("headings %q, then %q", invited, welcome)
	}
	waitFor(t, 10*time.Second, "ana to become Active", func() bool {
		return getUser(t, c, "ana").Status.Phase == accessv1alpha1.UserActive
	})

	// The mail server goes away: the status says so, naming the server, without the link.
	mp.stop()
	createUser(t, c, "ben")
	var failed *accessv1alpha1.DashboardUser
	waitFor(t, 30*time.Second, "ben's status to record the failed delivery", func() bool {
		u := getUser(t, c, "ben")
		ready := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady)
		if u.Status.Invite != nil && u.Status.Invite.LastError != "" && ready != nil && ready.Reason == accessv1alpha1.ReasonInviteFailed {
			failed = u
		}
		return failed != nil
	})
	inv := failed.Status.Invite
	if inv.Attempts < 1 || !strings.Contains(inv.LastError, mp.smtpAddr()) || strings.Contains(inv.LastError, "/invitations/") {
		t.Errorf("after a failed delivery: attempts %d, lastError %q (want the server's address, no link)", inv.Attempts, inv.LastError)
	}
	if failed.Status.Phase != accessv1alpha1.UserPending || inv.SentAt != nil || inv.NextAttemptAt == nil {
		t.Errorf("ben is %q with sentAt %v, nextAttemptAt %v: want Pending, not sent, a retry planned", failed.Status.Phase, inv.SentAt, inv.NextAttemptAt)
	}
	if ready := apimeta.FindStatusCondition(failed.Status.Conditions, accessv1alpha1.ConditionReady); !strings.Contains(ready.Message, mp.smtpAddr()) {
		t.Errorf("Ready's message %q does not name the mail server", ready.Message)
	}
	t.Logf("mail server down: phase %q, attempts %d, lastError %q", failed.Status.Phase, inv.Attempts, inv.LastError)

	// Back on the same port: the retry (persisted backoff) delivers, once.
	mp.start()
	waitFor(t, 40*time.Second, "ben to become Invited", func() bool {
		u := getUser(t, c, "ben")
		return u.Status.Phase == accessv1alpha1.UserInvited && u.Status.Invite != nil && u.Status.Invite.LastError == ""
	})
	// A second delivery would come from a later reconcile: the barrier waits for one after it.
	for _, name := range []string{"ana", "ben"} {
		userReconciledAfter(t, c, "default", name)
	}
	for _, email := range []string{"ana@example.com", "ben@example.com"} {
		if msgs := mp.messagesTo(email); len(msgs) != 1 {
			t.Errorf("%s has %d messages in mailpit, want exactly 1", email, len(msgs))
		}
	}
	if got := mailLink.FindString(mp.text(mp.messagesTo("ben@example.com")[0].ID)); got == "" || got == link {
		t.Errorf("ben's email has link %q", got)
	}
}

func createUser(t *testing.T, c client.Client, name string) {
	t.Helper()
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember}}
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func getUser(t *testing.T, c client.Client, name string) *accessv1alpha1.DashboardUser {
	t.Helper()
	u := &accessv1alpha1.DashboardUser{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// mailpitBinary builds mailpit if needed (hack/mailpit.sh; hack/test-deps.sh already did in
// `make test`) and returns its path.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", "mailpit.sh"), "print-path")
	cmd.Dir, cmd.Stderr = root, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/mailpit.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// writeSMTPCerts writes a CA and a server certificate it signed for 127.0.0.1 and localhost.
func writeSMTPCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e mail CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "PRIVATE KEY", keyDER)
}

// mailpit is one mailpit server, stopped and started again on the same ports and database.
type mailpit struct {
	t                  *testing.T
	bin, dir           string
	smtpPort, httpPort int
	cert, key          string
	cmd                *exec.Cmd
	done               chan struct{}
	output             bytes.Buffer
}

func (m *mailpit) smtpAddr() string { return fmt.Sprintf("127.0.0.1:%d", m.smtpPort) }
func (m *mailpit) api() string      { return fmt.Sprintf("http://127.0.0.1:%d/api/v1", m.httpPort) }

func (m *mailpit) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin,
		"--smtp="+m.smtpAddr(), fmt.Sprintf("--listen=127.0.0.1:%d", m.httpPort),
		"--database="+filepath.Join(m.dir, "mailpit.db"),
		"--smtp-tls-cert="+m.cert, "--smtp-tls-key="+m.key, "--smtp-require-starttls",
		"--smtp-disable-rdns")
	m.cmd.Stdout, m.cmd.Stderr = &m.output, &m.output
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(m.cmd, m.done)
	waitFor(m.t, 30*time.Second, "mailpit to listen", func() bool {
		resp, err := http.Get(m.api() + "/messages")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		conn, err := net.Dial("tcp", m.smtpAddr())
		if err != nil {
			return false
		}
		_ = conn.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (m *mailpit) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// refusesPlainText checks that mailpit takes no message without STARTTLS, so every message it
// holds came over TLS (mailpit does not record how a message arrived).
func (m *mailpit) refusesPlainText() {
	m.t.Helper()
	c, err := smtp.Dial(m.smtpAddr())
	if err != nil {
		m.t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		m.t.Error("mailpit does not offer STARTTLS")
	}
	if err := c.Mail("probe@example.com"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		m.t.Fatalf("mailpit accepted MAIL FROM without STARTTLS: %v", err)
	}
}

type mailpitSummary struct {
	ID string
	To []struct{ Address string }
}

// messagesTo lists the messages mailpit holds for email (GET /api/v1/messages).
func (m *mailpit) messagesTo(email string) []mailpitSummary {
	m.t.Helper()
	var list struct {
		Messages []mailpitSummary `json:"messages"`
	}
	m.getJSON("/messages?limit=1000", &list)
	var out []mailpitSummary
	for _, msg := range list.Messages {
		for _, to := range msg.To {
			if strings.EqualFold(to.Address, email) {
				out = append(out, msg)
			}
		}
	}
	return out
}

// text is a message's plain-text part (GET /api/v1/message/{ID}).
func (m *mailpit) text(id string) string {
	m.t.Helper()
	var msg struct{ Text string }
	m.getJSON("/message/"+id, &msg)
	return msg.Text
}

func (m *mailpit) getJSON(path string, v any) {
	m.t.Helper()
	resp, err := http.Get(m.api() + path)
	if err != nil {
		m.t.Fatalf("mailpit API %s: %v\n%s", path, err, m.output.String())
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("mailpit API %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		m.t.Fatalf("mailpit API %s: %v", path, err)
	}
}
