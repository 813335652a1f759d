// Package invite makes invite tokens and paces invite delivery. It has no Kubernetes imports.
//
// A token is the secret part of an accept link (<public URL>/invitations/<token>). Only its hash is
// kept, in the DashboardUser's status: the access server finds the user by that hash through a
// cache index, a resend replaces it (the old link dies), and acceptance marks it used. Status is the
// right home for it: it is the operator's own record, it is written with the rest of the invite's
// state in one patch, and a hash of a 130-bit random token reveals nothing. The token itself lives
// only in the delivered message and, while deliveries of it are retried, in the manager's memory.
package invite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// NewToken returns a fresh token: 26 base32 characters from crypto/rand (130 bits), safe in a URL.
func NewToken() string { return rand.Text() }

// Hash returns "sha256:<hex>" of a token; like passcodes, high-entropy tokens need no slow hash.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// WellFormed reports whether s could be a token NewToken made, before anything else is done with it.
func WellFormed(s string) bool {
	if len(s) != 26 {
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
type Batcher struct {
	Size   int
	Window time.Duration

	mu      sync.Mutex
	current time.Time // start of the current window
	used    int
}

// Reserve takes a slot in the window that holds now. When it is full it returns false and the wait
// until the next window starts.
func (b *Batcher) Reserve(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := now.Truncate(b.Window)
	if !start.Equal(b.current) {
		b.current, b.used = start, 0
	}
	if b.used >= b.Size {
		return false, start.Add(b.Window).Sub(now)
	}
	b.used++
	return true, 0
}

// Release gives back a slot reserved in vain (the invite turned out not to be needed).
func (b *Batcher) Release(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Truncate(b.Window).Equal(b.current) && b.used > 0 {
		b.used--
	}
}
