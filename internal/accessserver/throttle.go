package accessserver

import (
	"container/list"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/dashboardops/access-operator/internal/metrics"
)

// failureThrottle limits failed attempts per client with a token bucket (golang.org/x/time/rate):
// burst failures at once, then one more every refill. Only failures take tokens and only failures
// are refused, so a valid passcode is never held up; a success never touches the throttle at all.
//
// A client is an IPv4 address, or an IPv6 network of ipv6Prefix bits (64 by default: one host
// usually holds a whole /64 and could rotate through it freely). Memory is bounded: at most
// maxClients limiters in a least-recently-used list, so adding one is O(1) and never scans the
// table under the lock; the least recently failing client is forgotten first.
type failureThrottle struct {
	mu         sync.Mutex
	clients    map[netip.Prefix]*list.Element
	lru        *list.List // of *throttled, most recent first
	burst      int
	refill     time.Duration
	maxClients int
	ipv6Prefix int
}

type throttled struct {
	key     netip.Prefix
	limiter *rate.Limiter
}

func newFailureThrottle(burst int, refill time.Duration, maxClients, ipv6Prefix int) *failureThrottle {
	if ipv6Prefix <= 0 || ipv6Prefix > 128 {
		ipv6Prefix = 64
	}
	return &failureThrottle{clients: map[netip.Prefix]*list.Element{}, lru: list.New(), burst: burst, refill: refill,
		maxClients: maxClients, ipv6Prefix: ipv6Prefix}
}

// key is the client a request is counted against.
func (t *failureThrottle) key(addr netip.Addr) netip.Prefix {
	bits := 32
	if addr.Is6() {
		bits = t.ipv6Prefix
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// blocked reports whether client has no failure left to spend, and how long until it has one.
func (t *failureThrottle) blocked(addr netip.Addr, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.clients[t.key(addr)]
	if !ok {
		return 0, false
	}
	tokens := e.Value.(*throttled).limiter.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	metrics.AccessThrottled.Inc()
	return time.Duration((1 - tokens) * float64(t.refill)), true
}

// fail spends one token of client's limiter.
func (t *failureThrottle) fail(addr netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.key(addr)
	e, ok := t.clients[k]
	if ok {
		t.lru.MoveToFront(e)
	} else {
		if t.lru.Len() >= t.maxClients {
			oldest := t.lru.Back()
			t.lru.Remove(oldest)
			delete(t.clients, oldest.Value.(*throttled).key)
		}
		e = t.lru.PushFront(&throttled{key: k, limiter: rate.NewLimiter(rate.Every(t.refill), t.burst)})
		t.clients[k] = e
	}
	e.Value.(*throttled).limiter.AllowN(now, 1)
	metrics.AccessThrottleClients.Set(float64(t.lru.Len()))
}

func (t *failureThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
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
