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
	"slices"
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

// Batcher paces deliveries in fixed windows: at most Size invites per Window in each namespace (a
// dashboard project: the dashboard lets an admin invite at most 50 users at a time), and at most
// Global per Window over all namespaces (0: no global cap). One project's burst of 10,000 new users
// goes out 50 per window without holding up another project's invites.
//
// It is a queue: a user who finds the current window full is given a slot in the first window with
// room and told how long to wait for it, so each waiting user is looked at about twice (when it
// queues and when its window opens) instead of once per window; a batch of 10,000 costs O(N) looks,
// not O(N²). Slots live in memory. What was recorded before a restart or a leader change is counted
// through Seed, so the limits hold across both.
//
// The global cap is shared fairly: a namespace with fewer slots in a full future window takes one
// from the namespace with the most there (which queues it again after its own later slots), so each
// window is split evenly, ±1, between the namespaces waiting for it. A namespace's first invite is
// therefore sent in the current window or the next, whatever other namespaces queued, as long as
// fewer than Global namespaces wait at once. Slots in the current window are never taken: they may
// be being sent.
type Batcher struct {
	Size   int
	Global int
	Window time.Duration

	mu      sync.Mutex
	current time.Time             // start of the window slots were last dropped for
	slots   map[string]slot       // user → its namespace and the start of its slot's window
	windows map[time.Time]*window // window start → the slots taken in it
	seeded  bool
}

// Recorded is a user whose delivery attempt is recorded (in its status), for Seed.
type Recorded struct {
	Namespace, User string
}

type slot struct {
	namespace string
	window    time.Time
}

// window holds the users with a slot in one window, per namespace, in the order they took them.
type window struct {
	total int
	users map[string][]string
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
func (b *Batcher) Seed(now time.Time, recorded []Recorded) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	for _, r := range recorded {
		if _, ok := b.slots[r.User]; !ok {
			b.take(r.User, slot{r.Namespace, start})
		}
	}
	b.seeded = true
}

// Reserve takes a slot for user of namespace ns: in the window that holds now if it has room
// (true), else in the first later window with room (false, and the wait until that window opens). A
// user holding a slot keeps it (ns is then not looked at): asking again in its window is true,
// earlier it is the remaining wait, which grows if another namespace took the slot meanwhile.
func (b *Batcher) Reserve(now time.Time, ns, user string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	s, ok := b.slots[user]
	if !ok {
		s = slot{ns, b.place(start, start, ns)}
		b.take(user, s)
	}
	if s.window.Equal(start) {
		return true, 0
	}
	return false, s.window.Sub(now)
}

// place returns the first window from from on where namespace ns may take a slot, making room in
// it when ns is owed a share of a full future window. Callers hold mu.
func (b *Batcher) place(start, from time.Time, ns string) time.Time {
	for w := from; ; w = w.Add(b.Window) {
		win := b.windows[w]
		if win == nil {
			return w
		}
		mine := len(win.users[ns])
		if mine >= b.Size {
			continue
		}
		if b.Global <= 0 || win.total < b.Global {
			return w
		}
		if w.After(start) {
			if victim := heaviest(win, ns); victim != "" && len(win.users[victim]) >= mine+2 {
				b.bump(start, w, victim)
				return w
			}
		}
	}
}

// heaviest is the namespace other than ns with the most slots in win (ties: the first by name).
func heaviest(win *window, ns string) string {
	best := ""
	for other, users := range win.users {
		if other == ns {
			continue
		}
		if best == "" || len(users) > len(win.users[best]) || (len(users) == len(win.users[best]) && other < best) {
			best = other
		}
	}
	return best
}

// bump moves the last user namespace ns queued in the future window w to its first later window
// with room: it learns the new wait when it wakes for w. Callers hold mu.
func (b *Batcher) bump(start, w time.Time, ns string) {
	win := b.windows[w]
	users := win.users[ns]
	user := users[len(users)-1]
	b.drop(user)
	b.take(user, slot{ns, b.place(start, w.Add(b.Window), ns)})
}

// take records user's slot s. Callers hold mu.
func (b *Batcher) take(user string, s slot) {
	win := b.windows[s.window]
	if win == nil {
		win = &window{users: map[string][]string{}}
		b.windows[s.window] = win
	}
	win.users[s.namespace] = append(win.users[s.namespace], user)
	win.total++
	b.slots[user] = s
}

// drop forgets user's slot. Callers hold mu.
func (b *Batcher) drop(user string) {
	s, ok := b.slots[user]
	if !ok {
		return
	}
	delete(b.slots, user)
	win := b.windows[s.window]
	if win == nil {
		return
	}
	if i := slices.Index(win.users[s.namespace], user); i >= 0 {
		win.users[s.namespace] = slices.Delete(win.users[s.namespace], i, i+1)
		win.total--
	}
	if len(win.users[s.namespace]) == 0 {
		delete(win.users, s.namespace)
	}
}

// Release gives back a user's slot that was not used (nothing was sent).
func (b *Batcher) Release(user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.slots != nil {
		b.drop(user)
	}
}

// Queued is how many users hold a slot in a window that has not opened yet.
func (b *Batcher) Queued(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.advance(now)
	n := 0
	for w, win := range b.windows {
		if w.After(start) {
			n += win.total
		}
	}
	return n
}

// advance drops the slots of windows that have closed (each slot once, so O(N) in all) and returns
// the start of the window that holds now. Callers hold mu.
func (b *Batcher) advance(now time.Time) time.Time {
	start := b.WindowStart(now)
	if b.slots == nil {
		b.slots, b.windows = map[string]slot{}, map[time.Time]*window{}
	}
	if start.Equal(b.current) {
		return start
	}
	b.current = start
	for w, win := range b.windows {
		if !w.Before(start) {
			continue
		}
		for _, users := range win.users {
			for _, u := range users {
				delete(b.slots, u)
			}
		}
		delete(b.windows, w)
	}
	return start
}
