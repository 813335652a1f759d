package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testToken looks like invite.NewToken's output; tests search for it in errors.
const testToken = "K3Q7ZP4XW2MNB5RT6YHJ2LCD4E"

func testInvite() Invite {
	return Invite{
		Project:        "default",
		Email:          "jane@example.com",
		DisplayName:    "Jane Doe",
		Role:           "Member",
		AcceptURL:      "http://localhost:8082/invitations/" + testToken,
		ExpiresAt:      time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC),
		IdempotencyKey: "0b6f1c9e-7d2a-4c1b-9a51-3f0e8d7c6b5a-3",
	}
}

// assertNoSecret fails when err's text carries the accept link or its token.
func assertNoSecret(t *testing.T, err error, inv Invite) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	for _, s := range []string{inv.AcceptURL, testToken, token(inv.AcceptURL)} {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error leaks the accept link or token: %q", msg)
		}
	}
}

func TestToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://localhost:8082/invitations/" + testToken, testToken},
		{"https://dash.example.com/base/invitations/" + testToken + "/", testToken},
		{"https://dash.example.com/invitations/" + testToken + "?x=1#y", testToken},
		{"https://dash.example.com/accept/" + testToken, testToken},
	} {
		if got := token(tc.in); got != tc.want {
			t.Errorf("token(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	inv := testInvite()
	if redact(nil, inv) != nil {
		t.Fatal("redact(nil) must be nil")
	}

	clean := fmt.Errorf("smtp: %w", context.DeadlineExceeded)
	if got := redact(clean, inv); got != clean {
		t.Fatalf("a clean error must come back as it is, got %v", got)
	}

	for _, leak := range []string{
		"554 rejected line: " + inv.AcceptURL,
		"bad token " + testToken,
		`href="http://localhost:8082/invitations/` + testToken + `"`,
		"u=http%3A%2F%2Flocalhost%3A8082%2Finvitations%2F" + testToken,
	} {
		inner := errors.New(leak)
		got := redact(fmt.Errorf("smtp: %w", inner), inv)
		assertNoSecret(t, got, inv)
		if !strings.Contains(got.Error(), redacted) {
			t.Errorf("redacted error %q does not say what was removed", got)
		}
		if errors.Is(got, inner) {
			t.Errorf("a scrubbed error must not keep the leaking error in its chain")
		}
	}
}

func TestValidateInvite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Invite)
		want   string
	}{
		{"ok", func(*Invite) {}, ""},
		{"no project", func(i *Invite) { i.Project = "" }, "Project"},
		{"no role", func(i *Invite) { i.Role = "" }, "Role"},
		{"bad email", func(i *Invite) { i.Email = "jane" }, "Email"},
		{"relative link", func(i *Invite) { i.AcceptURL = "/invitations/" + testToken }, "AcceptURL"},
		{"javascript link", func(i *Invite) { i.AcceptURL = "javascript:alert('" + testToken + "')" }, "AcceptURL"},
		{"no expiry", func(i *Invite) { i.ExpiresAt = time.Time{} }, "ExpiresAt"},
		{"no key", func(i *Invite) { i.IdempotencyKey = "" }, "IdempotencyKey"},
		{"key with newline", func(i *Invite) { i.IdempotencyKey = "abc\r\nBcc: x@example.com" }, "IdempotencyKey"},
		{"key with space", func(i *Invite) { i.IdempotencyKey = "a b" }, "IdempotencyKey"},
		{"key too long", func(i *Invite) { i.IdempotencyKey = strings.Repeat("a", maxIdempotencyKey+1) }, "IdempotencyKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := testInvite()
			tc.change(&inv)
			_, err := validateInvite(inv)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not name %s", err, tc.want)
			}
			assertNoSecret(t, err, inv)
		})
	}
}

// TestNotifiersRejectInvalidInvites: every notifier validates, so make dev fails like production.
func TestNotifiersRejectInvalidInvites(t *testing.T) {
	smtpN, err := NewSMTP(SMTPConfig{Address: "127.0.0.1:1", From: "ops@example.com", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	hookN, err := NewWebhook(WebhookConfig{URL: "http://127.0.0.1:1/hook", Secret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	inv := testInvite()
	inv.IdempotencyKey = ""
	for name, n := range map[string]Notifier{"log": NewLog(&out), "smtp": smtpN, "webhook": hookN} {
		err := n.Send(context.Background(), inv)
		if err == nil || !strings.Contains(err.Error(), "IdempotencyKey") {
			t.Errorf("%s: error %v does not name IdempotencyKey", name, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("log notifier printed an invalid invite: %q", out.String())
	}
}

// TestRecipientBeyondDNSRefused: a domain label longer than 63 characters (RFC 1035) has no mail
// server, so every notifier refuses the invite at once instead of retrying it; 63 is fine.
func TestRecipientBeyondDNSRefused(t *testing.T) {
	inv := testInvite()
	inv.Email = "jane@" + strings.Repeat("b", 63) + ".io"
	if _, err := validateInvite(inv); err != nil {
		t.Fatalf("a 63-character label: %v", err)
	}
	for _, email := range []string{"jane@" + strings.Repeat("b", 64) + ".io", "jane@x." + strings.Repeat("b", 64)} {
		inv.Email = email
		_, err := validateInvite(inv)
		assertNoSecret(t, err, inv)
		if !strings.Contains(err.Error(), "more than the 63 DNS allows") {
			t.Errorf("%s: %v", email, err)
		}
	}
}
