package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dashboardops/access-operator/internal/testenv/webhookverify"
)

var (
	testSecret = []byte("webhook-secret")
	testNow    = time.Date(2026, 4, 24, 9, 15, 0, 0, time.UTC)
)

func newWebhook(t *testing.T, url string) Notifier {
	t.Helper()
	return newWebhookScheme(t, url, "")
}

func newWebhookScheme(t *testing.T, url string, scheme SignatureScheme) Notifier {
	t.Helper()
	n, err := NewWebhook(WebhookConfig{URL: url, Secret: testSecret, Scheme: scheme, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Standard Webhooks (the default): a receiver's verifier written from the specification accepts
// the delivery, and refuses it replayed later, tampered with, or checked with another secret.
func TestWebhookSignsTheStandardWebhooksWay(t *testing.T) {
	inv := testInvite()
	var hdr http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr, body = r.Header.Clone(), must(io.ReadAll(r.Body))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	if err := newWebhook(t, srv.URL).Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	secret := webhookverify.Secret(testSecret)
	if err := webhookverify.Verify(secret, hdr, body, testNow.Add(time.Minute)); err != nil {
		t.Fatalf("a Standard Webhooks receiver refuses the delivery: %v", err)
	}
	if hdr.Get("webhook-id") != inv.IdempotencyKey || hdr.Get("webhook-timestamp") != strconv.FormatInt(testNow.Unix(), 10) {
		t.Errorf("webhook-id %q, webhook-timestamp %q", hdr.Get("webhook-id"), hdr.Get("webhook-timestamp"))
	}
	if hdr.Get("X-Dashboard-Signature") != "" {
		t.Error("the x-dashboard signature is sent with the standard one")
	}
	if err := webhookverify.Verify(secret, hdr, body, testNow.Add(6*time.Minute)); !errors.Is(err, webhookverify.ErrTimestamp) {
		t.Errorf("replayed 6 minutes later: %v, want a timestamp error", err)
	}
	tampered := bytes.Replace(body, []byte("Member"), []byte("Admin!"), 1)
	if err := webhookverify.Verify(secret, hdr, tampered, testNow); !errors.Is(err, webhookverify.ErrSignature) {
		t.Errorf("tampered body: %v, want a signature error", err)
	}
	forged := hdr.Clone()
	forged.Set("webhook-id", "another-id")
	if err := webhookverify.Verify(secret, forged, body, testNow); !errors.Is(err, webhookverify.ErrSignature) {
		t.Errorf("another id: %v, want a signature error", err)
	}
	if err := webhookverify.Verify(webhookverify.Secret([]byte("other")), hdr, body, testNow); !errors.Is(err, webhookverify.ErrSignature) {
		t.Errorf("another secret: %v, want a signature error", err)
	}
}

func TestParseWebhookSecret(t *testing.T) {
	key := []byte{0, 1, 2, 250, 'k', 'e', 'y'}
	if got, err := ParseWebhookSecret(webhookverify.Secret(key) + "\n"); err != nil || !bytes.Equal(got, key) {
		t.Errorf("whsec_ form: %v %v", got, err)
	}
	if got, err := ParseWebhookSecret("plain-key\r\n"); err != nil || string(got) != "plain-key" {
		t.Errorf("a plain key is the key itself: %q %v", got, err)
	}
	for _, bad := range []string{"", "\n", "whsec_not*base64", "whsec_"} {
		if _, err := ParseWebhookSecret(bad); err == nil || strings.Contains(err.Error(), "base64*") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := NewWebhook(WebhookConfig{URL: "https://hooks.example.com", Secret: testSecret, Scheme: "hmac"}); err == nil {
		t.Error("an unknown scheme is accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The x-dashboard scheme of earlier releases, behind --webhook-signature=x-dashboard.
func TestWebhookDelivers(t *testing.T) {
	inv := testInvite()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/invite" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		for _, h := range []string{"Idempotency-Key", "X-Dashboard-Idempotency-Key"} {
			if got := r.Header.Get(h); got != inv.IdempotencyKey {
				t.Errorf("%s = %q", h, got)
			}
		}
		ts := r.Header.Get("X-Dashboard-Timestamp")
		if ts != strconv.FormatInt(testNow.Unix(), 10) {
			t.Errorf("X-Dashboard-Timestamp = %q, want %d", ts, testNow.Unix())
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		// Verify as a receiver would: over "<timestamp>.<body>", in constant time.
		sig := r.Header.Get("X-Dashboard-Signature")
		if want := Sign(testSecret, []byte(ts+"."+string(body))); !hmac.Equal([]byte(sig), []byte(want)) {
			t.Errorf("signature %q, want %q", sig, want)
		}
		if sig == Sign(testSecret, body) {
			t.Error("signature does not cover the timestamp")
		}
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&got); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		want := map[string]any{
			"type":           "dashboard.invite",
			"project":        inv.Project,
			"email":          inv.Email,
			"displayName":    inv.DisplayName,
			"role":           inv.Role,
			"acceptUrl":      inv.AcceptURL,
			"expiresAt":      "2026-05-01T12:30:00Z",
			"idempotencyKey": inv.IdempotencyKey,
			"sentAt":         "2026-04-24T09:15:00Z",
		}
		if len(got) != len(want) {
			t.Errorf("body has keys %v, want exactly %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	if err := newWebhookScheme(t, srv.URL+"/hooks/invite", SchemeDashboard).Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("receiver called %d times", calls.Load())
	}
}

func TestWebhookNon2xxIsAnError(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusTemporaryRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			inv := testInvite()
			var elsewhere atomic.Int32
			other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
			defer other.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if code == http.StatusTemporaryRedirect {
					w.Header().Set("Location", other.URL)
				}
				// A receiver that echoes the body, as error pages do.
				w.WriteHeader(code)
				_, _ = w.Write(body)
			}))
			defer srv.Close()

			err := newWebhook(t, srv.URL).Send(context.Background(), inv)
			assertNoSecret(t, err, inv)
			if !strings.Contains(err.Error(), strconv.Itoa(code)) {
				t.Errorf("error does not name the status %d: %v", code, err)
			}
			if strings.Contains(err.Error(), inv.Email) {
				t.Errorf("error contains the body: %v", err)
			}
			if elsewhere.Load() != 0 {
				t.Error("a redirect was followed: the signed link went to another server")
			}
		})
	}
}

// TestWebhookUnreachable: the error says which host failed, not the webhook's path, which may
// hold the receiver's own credential, and not the link.
func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/s3cr3t-path"
	srv.Close() // nobody listens there now
	inv := testInvite()
	err := newWebhook(t, url).Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if strings.Contains(err.Error(), "s3cr3t-path") {
		t.Errorf("error contains the webhook path: %v", err)
	}
	if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("error does not name the host: %v", err)
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	n, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: testSecret, Client: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	inv := testInvite()
	start := time.Now()
	err = n.Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the client's timeout was not used")
	}
}

func TestSignKnownVectors(t *testing.T) {
	// RFC 4231, test case 2.
	if got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?")); got != "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Fatalf("RFC 4231 vector: got %s", got)
	}
	// The webhook's own shape, computed independently with crypto/hmac.
	signed := []byte(`1777022100.{"type":"dashboard.invite"}`)
	mac := hmac.New(sha256.New, testSecret)
	mac.Write(signed)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := Sign(testSecret, signed); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if Sign([]byte("other"), signed) == want {
		t.Fatal("the signature does not depend on the secret")
	}
}
