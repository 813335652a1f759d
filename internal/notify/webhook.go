package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers besides headerIdempotencyKey: the Standard Webhooks ones
// (https://www.standardwebhooks.com), and the X-Dashboard ones of SchemeDashboard.
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
	headerTimestamp        = "X-Dashboard-Timestamp"
	headerSignature        = "X-Dashboard-Signature"
)

// SignatureScheme is how webhook deliveries are signed.
type SignatureScheme string

const (
	// SchemeStandard is Standard Webhooks: webhook-id (the idempotency key), webhook-timestamp
	// (Unix seconds) and webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", so
	// receivers verify with the existing Standard Webhooks libraries. The default.
	SchemeStandard SignatureScheme = "standard"
	// SchemeDashboard is this project's first scheme: X-Dashboard-Timestamp and
	// X-Dashboard-Signature "sha256=<hex HMAC-SHA256 of timestamp.body>". Kept for receivers built
	// against it.
	SchemeDashboard SignatureScheme = "x-dashboard"
)

// whsecPrefix marks a Standard Webhooks secret: the key is the base64 after it.
const whsecPrefix = "whsec_"

// ParseWebhookSecret turns the content of --webhook-secret-file into the HMAC key: the bytes
// after "whsec_" base64-decoded (the Standard Webhooks form, what receivers' libraries take), or
// else the content itself. Errors never quote the secret.
func ParseWebhookSecret(content string) ([]byte, error) {
	content = strings.TrimRight(content, "\r\n")
	b64, ok := strings.CutPrefix(content, whsecPrefix)
	if !ok {
		if content == "" {
			return nil, errors.New("is empty")
		}
		return []byte(content), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New(`starts with "whsec_" but what follows is not base64 (Standard Webhooks secrets are whsec_<base64 key>)`)
	}
	return key, nil
}

// webhookEventType is the "type" of the JSON document, so receivers can route future event kinds.
const webhookEventType = "dashboard.invite"

// maxDrain is how much of a response body is read (and discarded) so the connection can be
// reused; the body itself is never looked at.
const maxDrain = 64 << 10

// WebhookConfig configures the webhook notifier.
type WebhookConfig struct {
	URL    string
	Secret []byte // HMAC-SHA256 key (see ParseWebhookSecret)
	// Scheme is how deliveries are signed; empty is SchemeStandard.
	Scheme SignatureScheme
	// Client is nil = a client with a 15s timeout. A given client is copied and never follows
	// redirects, so the signed body with the link only goes to URL.
	Client *http.Client
	Now    func() time.Time // nil = time.Now (tests inject)
}

// webhookPayload is the JSON document a receiver gets.
type webhookPayload struct {
	Type           string `json:"type"`
	Project        string `json:"project"`
	Email          string `json:"email"`
	DisplayName    string `json:"displayName"`
	Role           string `json:"role"`
	AcceptURL      string `json:"acceptUrl"`
	ExpiresAt      string `json:"expiresAt"`
	IdempotencyKey string `json:"idempotencyKey"`
	SentAt         string `json:"sentAt"`
}

// webhookNotifier posts invites; see NewWebhook.
type webhookNotifier struct {
	scheme SignatureScheme
	url    string
	host   string // scheme://host, what errors may say about the target
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a notifier that POSTs each invite as JSON to cfg.URL:
//
//	{"type":"dashboard.invite","project":"default","email":"jane@example.com","displayName":"Jane",
//	 "role":"Member","acceptUrl":"https://dash.example.com/invitations/<token>",
//	 "expiresAt":"2026-05-01T12:00:00Z","idempotencyKey":"<uid>-3","sentAt":"2026-04-24T12:00:00Z"}
//
// with the headers (SchemeStandard, the default)
//
//	Content-Type: application/json
//	webhook-id: <idempotencyKey>
//	webhook-timestamp: <unix seconds>
//	webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>" with Secret>
//	Idempotency-Key: <idempotencyKey>
//	X-Dashboard-Idempotency-Key: <idempotencyKey>
//
// which any Standard Webhooks library verifies given the secret as "whsec_" + base64(Secret); or
// (SchemeDashboard) X-Dashboard-Timestamp and X-Dashboard-Signature: sha256=<hex HMAC-SHA256 over
// "<timestamp>.<body>"> instead of the three webhook- headers.
//
// A receiver recomputes the signature over the raw body bytes, compares it in constant time, and
// rejects timestamps more than a few minutes from its own clock: the timestamp is inside the
// signature, so a captured request cannot be replayed later with a fresh one. It should drop
// requests whose id it has already handled, since a request that timed out here is retried with
// the same id. Any answer other than 2xx is an error that names the status code; redirects are
// not followed.
func NewWebhook(cfg WebhookConfig) (Deliverer, error) {
	u, err := url.Parse(cfg.URL)
	// The parse error is not wrapped: it would quote the URL, which may carry a credential of its own.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: URL: must be an absolute http or https URL with a host")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("webhook: Secret: must not be empty")
	}
	var client http.Client
	if cfg.Client != nil {
		client = *cfg.Client
	} else {
		client.Timeout = defaultTimeout
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	scheme := cfg.Scheme
	switch scheme {
	case "":
		scheme = SchemeStandard
	case SchemeStandard, SchemeDashboard:
	default:
		return nil, fmt.Errorf("webhook: Scheme: %q is not %s or %s", scheme, SchemeStandard, SchemeDashboard)
	}
	return &webhookNotifier{
		scheme: scheme,
		url:    cfg.URL,
		host:   u.Scheme + "://" + u.Host,
		secret: bytes.Clone(cfg.Secret),
		client: &client,
		now:    now,
	}, nil
}

// Sign returns "sha256=<hex HMAC-SHA256 of body with secret>" (exported so receivers' docs and tests can use it).
// The webhook notifier signs "<timestamp>.<body>", see NewWebhook.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body) // hash.Hash.Write never fails
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignStandard is the Standard Webhooks signature of a delivery: "v1," and the base64 HMAC-SHA256
// of "<id>.<timestamp>.<body>" with secret.
func SignStandard(secret []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(signedContent([]byte(id), timestamp, body)) // hash.Hash.Write never fails
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedContent is "<id>.<timestamp>.<body>", or "<timestamp>.<body>" without an id.
func signedContent(id []byte, timestamp string, body []byte) []byte {
	out := make([]byte, 0, len(id)+1+len(timestamp)+1+len(body))
	if id != nil {
		out = append(append(out, id...), '.')
	}
	return append(append(append(out, timestamp...), '.'), body...)
}

// Send posts one invite. Errors name the webhook's scheme and host and the failure or status code,
// never the body, and not the URL's path or query, which may hold a credential of the receiver.
func (w *webhookNotifier) Send(ctx context.Context, inv Invite) error {
	if _, err := validateInvite(inv); err != nil {
		return err
	}
	now := w.now()
	body, err := json.Marshal(webhookPayload{
		Type:           webhookEventType,
		Project:        inv.Project,
		Email:          inv.Email,
		DisplayName:    inv.DisplayName,
		Role:           inv.Role,
		AcceptURL:      inv.AcceptURL,
		ExpiresAt:      inv.ExpiresAt.UTC().Format(time.RFC3339),
		IdempotencyKey: inv.IdempotencyKey,
		SentAt:         now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return redact(fmt.Errorf("webhook: encode: %w", err), inv)
	}
	return w.post(ctx, now, body, inv.IdempotencyKey, inv)
}

// post signs and POSTs one JSON document; inv (zero for events) is what its errors are scrubbed of.
func (w *webhookNotifier) post(ctx context.Context, now time.Time, body []byte, key string, inv Invite) error {
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: request to %s: %w", w.host, unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	if w.scheme == SchemeDashboard {
		req.Header.Set(headerTimestamp, ts)
		req.Header.Set(headerSignature, Sign(w.secret, signedContent(nil, ts, body)))
	} else {
		// Set directly: canonicalising would turn webhook-id into Webhook-Id, which HTTP/1.1
		// receivers read the same, but the spec spells them in lower case.
		req.Header[headerWebhookID] = []string{key}
		req.Header[headerWebhookTimestamp] = []string{ts}
		req.Header[headerWebhookSignature] = []string{SignStandard(w.secret, key, ts, body)}
	}
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set(headerIdempotencyKey, key)

	resp, err := w.client.Do(req)
	if err != nil {
		return redact(fmt.Errorf("webhook: POST to %s: %w", w.host, unwrapURLError(err)), inv)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) // only for connection reuse
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// StatusText, not resp.Status: the reason phrase is the receiver's text and could echo anything.
		return fmt.Errorf("webhook: %s answered %d %s", w.host, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// eventPayload is the JSON document of a lifecycle notification. It has no field for a passcode,
// a hash or an invite link.
type eventPayload struct {
	Type           string `json:"type"`
	Account        string `json:"account"`
	User           string `json:"user"`
	Email          string `json:"email,omitempty"`
	Passcode       string `json:"passcodeName,omitempty"`
	Revision       int64  `json:"revision,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Role           string `json:"role,omitempty"`
	PreviousRole   string `json:"previousRole,omitempty"`
	OccurredAt     string `json:"occurredAt"`
	ExpiresAt      string `json:"expiresAt,omitempty"`
	IdempotencyKey string `json:"idempotencyKey"`
	SentAt         string `json:"sentAt"`
}

// Delivers: the webhook receives every lifecycle event type.
func (w *webhookNotifier) Delivers(t EventType) bool { return eventBit(t) != 0 }

// Notify posts one lifecycle event, signed and with headers exactly like an invite (see NewWebhook):
//
//	{"type":"passcode.expiring","account":"default","user":"jane","email":"jane@example.com",
//	 "passcodeName":"jane-api","revision":3,"occurredAt":"2026-04-30T12:00:00Z",
//	 "expiresAt":"2026-05-01T12:00:00Z","idempotencyKey":"evt-<hex>","sentAt":"2026-04-30T12:00:01Z"}
func (w *webhookNotifier) Notify(ctx context.Context, ev Event) error {
	if err := validateEvent(ev); err != nil {
		return err
	}
	now := w.now()
	body, err := json.Marshal(eventPayload{
		Type:           string(ev.Type),
		Account:        ev.Account,
		User:           ev.User,
		Email:          ev.Email,
		Passcode:       ev.PasscodeName,
		Revision:       ev.Revision,
		Reason:         ev.Reason,
		Role:           ev.Role,
		PreviousRole:   ev.PreviousRole,
		OccurredAt:     rfc3339(ev.OccurredAt),
		ExpiresAt:      rfc3339(ev.ExpiresAt),
		IdempotencyKey: ev.IdempotencyKey,
		SentAt:         rfc3339(now),
	})
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	return w.post(ctx, now, body, ev.IdempotencyKey, Invite{})
}

// unwrapURLError drops the *url.Error layer, whose text repeats the whole webhook URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
