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
// an admin invite at most 50 users at a time; a burst of 10,000 new users goes out 50 per window.
//
// It is a queue: a user who finds the current window full is given a slot in the first window with
// room and told how long to wait for it, so each waiting user is looked at about twice (when it
// queues and when its window opens) instead of once per window; a batch of 10,000 costs O(N), not
// O(N²). Slots live in memory. What was recorded before a restart or a leader change is counted
// through Seed, so the limit holds across both.
type Batcher struct {
	Size   int
	Window time.Duration

	mu      sync.Mutex
	current time.Time            // start of the window slots were last dropped for
	slots   map[string]time.Time // user → start of the window its slot is in
	counts  map[time.Time]int    // window start → slots taken in it
	seeded  bool
}

// WindowStart is the start of the window that holds t.
func (b *Batcher) WindowStart(t time.Time) time.Time { return t.Truncate(b.Window) }

// Seeded reports whether Seed was called: until then the current window may hold attempts an
// earlier process recorded.
func (b *Batcher) Seeded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seeded
}

// Seed counts the users whose delivery attempts are recorded in the window that holds now (read
// from their persisted status after a restart). A user already holding a slot is not counted twice.
func (b *Batcher) Seed(now time.Time, recorded []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	for _, u := range recorded {
		if _, ok := b.slots[u]; !ok {
			b.slots[u] = start
			b.counts[start]++
		}
	}
	b.seeded = true
}

// Reserve takes a slot for user: in the window that holds now if it has room (true), else in the
// first later window with room (false, and the wait until that window opens). A user holding a
// slot keeps it: asking again in its window is true, earlier it is the remaining wait.
func (b *Batcher) Reserve(now time.Time, user string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	w, ok := b.slots[user]
	if !ok {
		w = start
		for b.counts[w] >= b.Size {
			w = w.Add(b.Window)
		}
		b.slots[user] = w
		b.counts[w]++
	}
	if w.Equal(start) {
		return true, 0
	}
	return false, w.Sub(now)
}

// Release gives back a user's slot that was not used (nothing was sent).
func (b *Batcher) Release(user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.slots[user]; ok {
		delete(b.slots, user)
		b.counts[w]--
	}
}

// Queued is how many users hold a slot in a window that has not opened yet.
func (b *Batcher) Queued(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	n := 0
	for w, c := range b.counts {
		if w.After(start) {
			n += c
		}
	}
	return n
}

// advance drops the slots of windows that have closed (once per window, so O(N) per window) and
// returns the start of the window that holds now. Callers hold mu.
func (b *Batcher) advance(now time.Time) time.Time {
	start := b.WindowStart(now)
	if b.slots == nil {
		b.slots, b.counts = map[string]time.Time{}, map[time.Time]int{}
	}
	if start.Equal(b.current) {
		return start
	}
	b.current = start
	for u, w := range b.slots {
		if w.Before(start) {
			delete(b.slots, u)
		}
	}
	for w := range b.counts {
		if w.Before(start) {
			delete(b.counts, w)
		}
	}
	return start
}
