package notify

import (
	"net/http"
	"strings"
	"testing"
)

func TestNewSMTPValidates(t *testing.T) {
	ok := SMTPConfig{Address: "smtp.example.com:587", From: "Dashboard <dashboard@example.com>", TLS: "starttls"}
	for _, tc := range []struct {
		name   string
		change func(*SMTPConfig)
		want   string // "" = valid
	}{
		{"valid starttls", func(*SMTPConfig) {}, ""},
		{"valid tls with auth", func(c *SMTPConfig) {
			c.Address, c.TLS, c.Username, c.Password = "smtp.example.com:465", "tls", "u", "p"
		}, ""},
		{"valid none, bare From", func(c *SMTPConfig) { c.TLS, c.From = "none", "dashboard@example.com" }, ""},
		{"valid IPv6", func(c *SMTPConfig) { c.Address = "[::1]:25" }, ""},
		{"no port", func(c *SMTPConfig) { c.Address = "smtp.example.com" }, "smtp: Address"},
		{"no host", func(c *SMTPConfig) { c.Address = ":25" }, "smtp: Address"},
		{"port not a number", func(c *SMTPConfig) { c.Address = "smtp.example.com:smtp" }, "smtp: Address"},
		{"port out of range", func(c *SMTPConfig) { c.Address = "smtp.example.com:65536" }, "smtp: Address"},
		{"empty From", func(c *SMTPConfig) { c.From = "" }, "smtp: From"},
		{"bad From", func(c *SMTPConfig) { c.From = "Dashboard <dashboard>" }, "smtp: From"},
		{"empty TLS", func(c *SMTPConfig) { c.TLS = "" }, "smtp: TLS"},
		{"unknown TLS", func(c *SMTPConfig) { c.TLS = "ssl" }, "smtp: TLS"},
		{"password without username", func(c *SMTPConfig) { c.Password = "p" }, "smtp: Password"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -1 }, "smtp: Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			n, err := NewSMTP(cfg)
			if tc.want == "" {
				if err != nil || n == nil {
					t.Fatalf("NewSMTP: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v does not start with %q", err, tc.want)
			}
		})
	}
}

func TestNewWebhookValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  WebhookConfig
		want string
	}{
		{"valid https", WebhookConfig{URL: "https://hooks.example.com/invite", Secret: []byte("s")}, ""},
		{"valid http with client", WebhookConfig{URL: "http://receiver.ns.svc:8080/", Secret: []byte("s"), Client: &http.Client{}}, ""},
		{"empty URL", WebhookConfig{Secret: []byte("s")}, "webhook: URL"},
		{"relative URL", WebhookConfig{URL: "/invite", Secret: []byte("s")}, "webhook: URL"},
		{"no host", WebhookConfig{URL: "https:///invite", Secret: []byte("s")}, "webhook: URL"},
		{"other scheme", WebhookConfig{URL: "ftp://hooks.example.com/", Secret: []byte("s")}, "webhook: URL"},
		{"unparsable", WebhookConfig{URL: "http://a b.example.com/", Secret: []byte("s")}, "webhook: URL"},
		{"no secret", WebhookConfig{URL: "https://hooks.example.com/invite"}, "webhook: Secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewWebhook(tc.cfg)
			if tc.want == "" {
				if err != nil || n == nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v does not start with %q", err, tc.want)
			}
		})
	}
}

// TestNewWebhookLeavesCallerClientAlone: refusing redirects must not change the caller's client.
func TestNewWebhookLeavesCallerClientAlone(t *testing.T) {
	c := &http.Client{}
	if _, err := NewWebhook(WebhookConfig{URL: "https://hooks.example.com/", Secret: []byte("s"), Client: c}); err != nil {
		t.Fatal(err)
	}
	if c.CheckRedirect != nil {
		t.Fatal("NewWebhook modified the caller's http.Client")
	}
}
