// Package webhookverify is a receiver's check of a Standard Webhooks delivery, written from the
// specification (https://www.standardwebhooks.com, "Verifying webhook authenticity") and not from
// the operator's signing code, so that tests prove deliveries verify the way receivers' own
// libraries verify them. Test support: never imported by production code.
package webhookverify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Tolerance is how far a delivery's timestamp may be from the receiver's clock (the
// specification's reference libraries use five minutes).
const Tolerance = 5 * time.Minute

// Errors a receiver tells apart.
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("timestamp outside the tolerance")
	ErrSignature      = errors.New("no matching signature")
)

// Verify checks headers and the raw body against secret, given as the specification's
// "whsec_<base64 key>", at time now.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: %s off", ErrTimestamp, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("the secret is not whsec_<base64>: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	// The header is a space-separated list of "<version>,<base64 signature>"; any v1 may match.
	for _, versioned := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(versioned, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// Secret is the whsec_ form of a raw key, what a receiver is configured with.
func Secret(key []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(key) }
