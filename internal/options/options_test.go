package options

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValidOnlyForDevelopment(t *testing.T) {
	o := Default()
	o.Dev = true
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults must be valid with --dev: %v", err)
	}
	// Without --dev the defaults would log live invite links and make links to localhost.
	o.Dev = false
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--notifier: log prints live invite links") ||
		!strings.Contains(err.Error(), "--public-url:") {
		t.Fatalf("production needs a real notifier and public URL: %v", err)
	}
	o.Notifier, o.WebhookURL, o.WebhookSecretFile = NotifierWebhook, "https://hooks.example.com/invites", "/etc/hostname"
	o.PublicURL = "https://dashboard-access.example.com"
	if err := o.Validate(); err != nil {
		t.Fatalf("a production configuration is valid: %v", err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	whsec := filepath.Join(t.TempDir(), "whsec")
	if err := os.WriteFile(whsec, []byte("whsec_c2lnbmluZy1rZXk=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badWhsec := filepath.Join(t.TempDir(), "bad-whsec")
	if err := os.WriteFile(badWhsec, []byte("whsec_***"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, testCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	smtpArgs := []string{"--notifier=smtp", "--smtp-address=mail.example.com:587", "--smtp-from=ops@b.io"}
	cases := []struct {
		args []string
		flag string // "" means valid
	}{
		{[]string{"--metrics-bind-address=:8443"}, ""},
		{[]string{"--metrics-bind-address=nonsense"}, "--metrics-bind-address"},
		{[]string{"--metrics-bind-address=:99999"}, "--metrics-bind-address"},
		{[]string{"--health-probe-bind-address=:x"}, "--health-probe-bind-address"},
		{[]string{"--access-bind-address=8082"}, "--access-bind-address"},
		{[]string{"--access-bind-address=127.0.0.1:0"}, ""},
		{[]string{"--public-url=ftp://x"}, "--public-url"},
		{[]string{"--public-url=localhost:8082"}, "--public-url"},
		{[]string{"--public-url=https://dash.example.com/base"}, ""},
		{[]string{"--public-url=https://dash.example.com/?a=b"}, "--public-url"},
		{[]string{"--notifier=pigeon"}, "--notifier"},
		{[]string{"--notifier=webhook"}, "--webhook-url"},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x"}, "--webhook-secret-file"},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=/nope"}, "--webhook-secret-file"},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + empty}, "--webhook-secret-file"},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + secret}, ""},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + whsec}, ""},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + badWhsec}, "--webhook-secret-file"},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + secret,
			"--webhook-signature=x-dashboard"}, ""},
		{[]string{"--notifier=webhook", "--webhook-url=https://h.example.com/x", "--webhook-secret-file=" + secret,
			"--webhook-signature=hmac"}, "--webhook-signature"},
		{[]string{"--notifier=smtp"}, "--smtp-address"},
		{[]string{"--notifier=smtp", "--smtp-address=mail:25"}, "--smtp-from"},
		{[]string{"--notifier=smtp", "--smtp-address=mail", "--smtp-from=a@b.io"}, "--smtp-address"},
		{[]string{"--notifier=smtp", "--smtp-address=mail:25", "--smtp-from=not-an-address"}, "--smtp-from"},
		{[]string{"--notifier=smtp", "--smtp-address=mail:25", "--smtp-from=Ops <ops@b.io>", "--smtp-username=u"}, "--smtp-password-file"},
		{[]string{"--notifier=smtp", "--smtp-address=mail:25", "--smtp-from=ops@b.io", "--smtp-username=u", "--smtp-password-file=" + secret}, ""},
		{[]string{"--smtp-tls=ssl"}, "--smtp-tls"},
		// Invite links never cross the network in clear text unless asked for; a loopback relay is fine.
		{[]string{"--notifier=smtp", "--smtp-address=mail.example.com:25", "--smtp-from=ops@b.io", "--smtp-tls=none"}, "--smtp-tls"},
		{[]string{"--notifier=smtp", "--smtp-address=127.0.0.1:25", "--smtp-from=ops@b.io", "--smtp-tls=none"}, ""},
		{[]string{"--notifier=smtp", "--smtp-address=localhost:25", "--smtp-from=ops@b.io", "--smtp-tls=none"}, ""},
		{[]string{"--notifier=smtp", "--smtp-address=[::1]:25", "--smtp-from=ops@b.io", "--smtp-tls=none"}, ""},
		{[]string{"--notifier=smtp", "--smtp-address=mail.example.com:25", "--smtp-from=ops@b.io", "--smtp-tls=none",
			"--allow-insecure-delivery"}, ""},
		{[]string{"--notifier=webhook", "--webhook-url=http://h.example.com/x", "--webhook-secret-file=" + secret}, "--webhook-url"},
		{[]string{"--notifier=webhook", "--webhook-url=http://127.0.0.1:9000/x", "--webhook-secret-file=" + secret}, ""},
		{[]string{"--notifier=webhook", "--webhook-url=http://h.example.com/x", "--webhook-secret-file=" + secret,
			"--allow-insecure-delivery"}, ""},
		{[]string{"--smtp-tls=tls"}, ""},
		{append(smtpArgs, "--smtp-ca-file="+caFile), ""},
		{append(smtpArgs, "--smtp-ca-file="+caFile, "--smtp-tls=tls"), ""},
		{append(smtpArgs, "--smtp-ca-file=/nope"), "--smtp-ca-file"},
		{append(smtpArgs, "--smtp-ca-file="+empty), "--smtp-ca-file"},
		{append(smtpArgs, "--smtp-ca-file="+secret), "--smtp-ca-file"},
		{[]string{"--notifier=smtp", "--smtp-address=127.0.0.1:25", "--smtp-from=ops@b.io", "--smtp-tls=none", "--smtp-ca-file=" + caFile},
			"--smtp-ca-file"},
		{[]string{"--invite-batch-size=0"}, "--invite-batch-size"},
		{[]string{"--invite-batch-size=51"}, "--invite-batch-size"},
		{[]string{"--invite-batch-size=1"}, ""},
		{[]string{"--invite-global-batch-size=49"}, "--invite-global-batch-size"},
		{[]string{"--invite-global-batch-size=0"}, "--invite-global-batch-size"},
		{[]string{"--invite-global-batch-size=100001"}, "--invite-global-batch-size"},
		{[]string{"--invite-batch-size=10", "--invite-global-batch-size=10"}, ""},
		{[]string{"--invite-global-batch-size=50"}, ""},
		{[]string{"--invite-batch-window=50ms"}, "--invite-batch-window"},
		{[]string{"--invite-batch-window=2h"}, "--invite-batch-window"},
		{[]string{"--invite-batch-window=1s"}, ""},
		{[]string{"--notify-events=passcode.issued, passcode.rotated,passcode.expiring,passcode.expired,passcode.revoked," +
			"user.role-changed,user.access-revoked"}, ""},
		{[]string{"--notify-events="}, ""},
		{[]string{"--notify-events=passcode.expiring,passcode.exploded"}, "--notify-events"},
		{[]string{"--notify-events=Passcode.Expired"}, "--notify-events"},
		{[]string{"--watch-namespaces=team-a, team-b"}, ""},
		{[]string{"--watch-namespaces=Team_A"}, "--watch-namespaces"},
		{[]string{"--trusted-proxies=10.0.0.0/8,192.168.1.7,::1"}, ""},
		{[]string{"--trusted-proxies=10.0.0.0/33"}, "--trusted-proxies"},
		{[]string{"--trusted-proxies=gateway"}, "--trusted-proxies"},
		{[]string{"--throttle-ipv6-prefix=56"}, ""},
		{[]string{"--passcode-workers=16", "--user-workers=2", "--kube-api-qps=200", "--kube-api-burst=400"}, ""},
		{[]string{"--passcode-workers=0"}, "--passcode-workers"},
		{[]string{"--user-workers=65"}, "--user-workers"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps"},
		{[]string{"--kube-api-qps=5001", "--kube-api-burst=10000"}, "--kube-api-qps"},
		{[]string{"--kube-api-burst=10001"}, "--kube-api-burst"},
		{[]string{"--kube-api-qps=100", "--kube-api-burst=50"}, "--kube-api-burst"},
		{[]string{"--throttle-ipv6-prefix=16"}, "--throttle-ipv6-prefix"},
		{[]string{"--throttle-ipv6-prefix=129"}, "--throttle-ipv6-prefix"},
		{[]string{"--leader-elect", "--leader-election-namespace=access-system"}, ""},
		{[]string{"--leader-election-namespace="}, ""},
		{[]string{"--leader-election-namespace=Access_System"}, "--leader-election-namespace"},
		{[]string{"--leader-election-namespace=a.b"}, "--leader-election-namespace"},
		{[]string{"--leader-election-namespace=" + strings.Repeat("n", 64)}, "--leader-election-namespace"},
	}
	for _, c := range cases {
		o := Default()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		o.Bind(fs)
		if err := fs.Parse(append([]string{"--dev"}, c.args...)); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		err := o.Validate()
		switch {
		case c.flag == "" && err != nil:
			t.Errorf("%v: unexpected error %v", c.args, err)
		case c.flag != "" && err == nil:
			t.Errorf("%v: accepted, want an error naming %s", c.args, c.flag)
		case c.flag != "" && !strings.Contains(err.Error(), c.flag+":"):
			t.Errorf("%v: error %q does not name %s", c.args, err, c.flag)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := Default()
	o.Notifier = "x"
	o.InviteBatchSize = 100
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--notifier") || !strings.Contains(err.Error(), "--invite-batch-size") {
		t.Fatalf("want both flags named, got %v", err)
	}
}

func TestSecretFileContentNeverInError(t *testing.T) {
	dir := t.TempDir()
	o := Default()
	o.Notifier = NotifierWebhook
	o.WebhookURL = "https://h.example.com"
	o.WebhookSecretFile = dir // a directory: refused
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "non-empty file") {
		t.Fatalf("got %v", err)
	}
}

func TestNamespacesDeduplicates(t *testing.T) {
	o := Default()
	o.Dev, o.WatchNamespaces = true, "a,b,,a"
	c, err := o.Parse()
	if err != nil || strings.Join(c.WatchNamespaceList, ",") != "a,b" {
		t.Fatalf("got %v, %v", c.WatchNamespaceList, err)
	}
}

func TestLeaderElectionNamespaceDefaultsToInCluster(t *testing.T) {
	o := Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse([]string{"--leader-elect", "--dev"}); err != nil {
		t.Fatal(err)
	}
	if o.LeaderElectionNamespace != "" {
		t.Fatalf("default --leader-election-namespace = %q, want empty (the in-cluster namespace)", o.LeaderElectionNamespace)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("--leader-elect alone must be valid (in cluster): %v", err)
	}
}

func TestInsecureDeliveryWarning(t *testing.T) {
	o := Default()
	o.Notifier, o.WebhookURL = NotifierWebhook, "http://h.example.com/x"
	if o.InsecureDeliveryWarning() != "" {
		t.Fatal("no warning without --allow-insecure-delivery (the flag check refuses it instead)")
	}
	o.AllowInsecureDelivery = true
	if w := o.InsecureDeliveryWarning(); !strings.Contains(w, "clear text") {
		t.Fatalf("warning = %q", w)
	}
	o.WebhookURL = "https://h.example.com/x"
	if o.InsecureDeliveryWarning() != "" {
		t.Fatal("https needs no warning")
	}
}

func TestNotifyEventsDefaultAndErrorListsAllowed(t *testing.T) {
	o := Default()
	o.Dev = true
	c, err := o.Parse()
	if err != nil || c.Events.String() != "passcode.expiring,passcode.expired" {
		t.Fatalf("default --notify-events = %q, %v; want passcode.expiring,passcode.expired", c.Events, err)
	}
	o.Dev = false
	o.Dev, o.NotifyEvents = true, "passcode.expiring,user.deleted"
	err = o.Validate()
	if err == nil {
		t.Fatal("an unknown event type was accepted")
	}
	for _, want := range []string{"--notify-events:", `"user.deleted"`, "passcode.issued", "passcode.rotated", "passcode.expiring",
		"passcode.expired", "passcode.revoked", "user.role-changed", "user.access-revoked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %s", err, want)
		}
	}
}

// testCAPEM is a self-signed CA certificate in PEM.
func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Parse reads each secret file once and keeps what setup needs, and a Config printed shows no
// secret.
func TestParseReadsTheSecretFilesOnce(t *testing.T) {
	dir := t.TempDir()
	password, whsec := filepath.Join(dir, "password"), filepath.Join(dir, "whsec")
	for path, content := range map[string]string{password: "hunter2\n", whsec: "whsec_aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := Default()
	o.Notifier, o.SMTPAddress, o.SMTPFrom, o.SMTPUsername, o.SMTPPasswordFile = NotifierSMTP, "smtp.example.com:587", "a@example.com", "u", password
	o.PublicURL = "https://dashboard.example.com"
	c, err := o.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPPassword != "hunter2" {
		t.Errorf("SMTPPassword = %q", string(c.SMTPPassword))
	}
	if out := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(out, "hunter2") {
		t.Errorf("a printed Config shows the password: %s", out)
	}
	o = Default()
	o.Notifier, o.WebhookURL, o.WebhookSecretFile = NotifierWebhook, "https://hooks.example.com/x", whsec
	o.PublicURL = "https://dashboard.example.com"
	if c, err = o.Parse(); err != nil || string(c.WebhookSecret) != "hello world hello world" {
		t.Errorf("WebhookSecret = %q, %v", string(c.WebhookSecret), err)
	}
}
