// Package invite makes invite tokens and paces invite delivery. It has no Kubernetes imports.
//
// A token is the secret part of an accept link (<public URL>/invitations/<token>). It is derived
// from the project's invite key (a random key the operator keeps in a Secret), the user's UID and
// the invite number: every retry of one invite, also after a crash or a failed status write,
// carries the same link and the same idempotency key, and a new invite number (a resend) gives a
// new link. Only the token's hash is kept, in the DashboardUser's status: the access server finds
// the user by that hash through a cache index, a resend replaces it (the old link dies), and
// acceptance marks it used.
package invite

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strconv"
	"sync"
	"time"
)

// tokenLen is a token's length: 26 base32 characters are 130 bits, as many as crypto/rand.Text.
const tokenLen = 26

// Token returns the token of invite number of the user with uid: HMAC-SHA256 under key, as 26
// base32 characters (130 bits), safe in a URL. Without the key nobody can compute it.
func Token(key []byte, uid string, number int32) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("invite\x00" + uid + "\x00" + strconv.FormatInt(int64(number), 10)))
	return base32.StdEncoding.EncodeToString(mac.Sum(nil))[:tokenLen]
}

// IdempotencyKey names one invite across every delivery attempt: the user's UID and the invite
// number. Receivers drop repeats by it.
func IdempotencyKey(uid string, number int32) string {
	return uid + "-" + strconv.FormatInt(int64(number), 10)
}

// Hash returns "sha256:<hex>" of a token; like passcodes, high-entropy tokens need no slow hash.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// WellFormed reports whether s could be a token Token made, before anything else is done with it.
func WellFormed(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// Expired reports whether an invite sent with the given expiry no longer works at now.
func Expired(now, expiresAt time.Time) bool { return !now.Before(expiresAt) }

// Batcher paces deliveries: at most Size invites per Window, in fixed windows. The dashboard lets
// an admin invite at most 50 users at a time; a burst of 500 new users goes out 50 per window, and
// whoever finds the current window full is told how long to wait (a requeue), never blocked.
//
// The count of a window is the union of what the caller found recorded (every user's persisted
// attempt time, so the limit holds across restarts and leader changes) and what this process
// reserved and may not have recorded yet (so concurrent workers reading the same cache cannot
// overshoot it).
type Batcher struct {
	Size   int
	Window time.Duration

	mu       sync.Mutex
	current  time.Time           // start of the current window
	reserved map[string]struct{} // users reserved in the current window by this process
}

// WindowStart is the start of the window that holds t.
func (b *Batcher) WindowStart(t time.Time) time.Time { return t.Truncate(b.Window) }

// Reserve takes a slot for user in the window that holds now; recorded are the users whose
// attempts in this window are already persisted. A user already counted takes no second slot.
// When the window is full it returns false and the wait until the next window starts.
func (b *Batcher) Reserve(now time.Time, user string, recorded []string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.WindowStart(now)
	if !start.Equal(b.current) || b.reserved == nil {
		b.current, b.reserved = start, map[string]struct{}{}
	}
	counted := make(map[string]struct{}, len(b.reserved)+len(recorded))
	for u := range b.reserved {
		counted[u] = struct{}{}
	}
	for _, u := range recorded {
		counted[u] = struct{}{}
	}
	if _, ok := counted[user]; ok {
		return true, 0
	}
	if len(counted) >= b.Size {
		return false, start.Add(b.Window).Sub(now)
	}
	b.reserved[user] = struct{}{}
	return true, 0
}

// Release gives back a slot reserved in vain (the attempt was not recorded).
func (b *Batcher) Release(now time.Time, user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.WindowStart(now).Equal(b.current) {
		delete(b.reserved, user)
	}
}
