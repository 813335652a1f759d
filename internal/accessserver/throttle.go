package accessserver

import (
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// failureThrottle limits failed attempts per client with a token bucket: burst failures at once,
// then one more every refill. Only failures take tokens and only failures are refused, so a valid
// passcode is never held up; a success never touches the throttle at all.
//
// Memory is bounded: at most maxClients buckets. When full, buckets that have refilled completely
// (idle clients) are dropped; if none has, an arbitrary one is, which at worst forgives one
// client's failures early.
type failureThrottle struct {
	mu         sync.Mutex
	buckets    map[netip.Addr]*bucket
	burst      float64
	refill     time.Duration
	maxClients int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFailureThrottle(burst int, refill time.Duration, maxClients int) *failureThrottle {
	return &failureThrottle{buckets: map[netip.Addr]*bucket{}, burst: float64(burst), refill: refill, maxClients: maxClients}
}

// blocked reports whether client has no failure left to spend, and how long until it has one.
func (t *failureThrottle) blocked(client netip.Addr, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[client]
	if !ok {
		return 0, false
	}
	t.top(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(t.refill)), true
}

// fail spends one token of client's bucket.
func (t *failureThrottle) fail(client netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[client]
	if !ok {
		if len(t.buckets) >= t.maxClients {
			t.evict(now)
		}
		b = &bucket{tokens: t.burst, last: now}
		t.buckets[client] = b
	}
	t.top(b, now)
	b.tokens = math.Max(b.tokens-1, 0)
}

func (t *failureThrottle) top(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(t.burst, b.tokens+float64(elapsed)/float64(t.refill))
		b.last = now
	}
}

// evict makes room: idle (full) buckets first, else any one.
func (t *failureThrottle) evict(now time.Time) {
	for k, b := range t.buckets {
		t.top(b, now)
		if b.tokens >= t.burst {
			delete(t.buckets, k)
		}
	}
	if len(t.buckets) < t.maxClients {
		return
	}
	for k := range t.buckets {
		delete(t.buckets, k)
		return
	}
}

func (t *failureThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// clientAddr is who sent the request: the peer, or, when the peer is a trusted proxy, the
// right-most address in X-Forwarded-For that is not itself a trusted proxy (the left part of that
// header is whatever the client chose to write).
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a malformed hop: stop trusting the header there
		}
		hop = hop.Unmap()
		if !isTrusted(hop, trusted) {
			return hop
		}
		addr = hop
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
