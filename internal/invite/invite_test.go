package invite

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	seen := map[string]bool{}
	for n := range int32(1000) {
		tok := Token(key, "uid-1", n)
		if !WellFormed(tok) || seen[tok] {
			t.Fatalf("bad or repeated token %q", tok)
		}
		seen[tok] = true
		if Hash(tok) == Hash(tok+"x") || len(Hash(tok)) != len("sha256:")+64 {
			t.Fatal("hash")
		}
	}
	for _, s := range []string{"", "abc", "ABCDEFGHIJKLMNOPQRSTUVWXY1", "ABCDEFGHIJKLMNOPQRSTUVWXYZA", "../../etc/passwd"} {
		if WellFormed(s) {
			t.Errorf("WellFormed(%q)", s)
		}
	}
}

// TestTokenIsStableAndKeyed: a retry (same key, UID, number) gets the same link; another user, another
// number or another project's key gets another one.
func TestTokenIsStableAndKeyed(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tok := Token(key, "uid-1", 3)
	if Token(key, "uid-1", 3) != tok {
		t.Fatal("the same invite must give the same token")
	}
	others := map[string]string{
		"other user":   Token(key, "uid-2", 3),
		"other number": Token(key, "uid-1", 4),
		"other key":    Token([]byte("fedcba9876543210fedcba9876543210"), "uid-1", 3),
		"ambiguous":    Token(key, "uid-13", 0), // "uid-1"+"3" must not collide with "uid-13"+...
	}
	for what, o := range others {
		if o == tok {
			t.Errorf("%s gives the same token", what)
		}
	}
	if got := IdempotencyKey("uid-1", 3); got != "uid-1-3" {
		t.Errorf("IdempotencyKey = %q", got)
	}
}

func TestExpired(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if Expired(at.Add(-time.Second), at) || !Expired(at, at) || !Expired(at.Add(time.Hour), at) {
		t.Fatal("an invite works until expiresAt, not from it")
	}
}

// TestBatchesOf50: 500 invites queued at once go out as 10 batches of 50, one per window, and each
// user is asked about twice (when it queues, and when its window opens), never once per window.
func TestBatchesOf50(t *testing.T) {
	b := &Batcher{Size: 50, Window: 10 * time.Second}
	start := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	wakeAt := map[string]time.Time{}
	asked := 0
	for i := range 500 {
		u := fmt.Sprint("user-", i)
		asked++
		if ok, wait := b.Reserve(start, "team", u); !ok {
			wakeAt[u] = start.Add(wait)
		}
	}
	if q := b.Queued(start); q != 450 {
		t.Fatalf("%d users queued for later windows, want 450", q)
	}
	sent := map[time.Time]int{b.WindowStart(start): 50}
	for u, at := range wakeAt {
		asked++
		if ok, _ := b.Reserve(at, "team", u); !ok {
			t.Fatalf("%s woke at %s, when its window opens, and found no slot", u, at)
		}
		sent[at]++
	}
	if len(sent) != 10 || asked != 950 {
		t.Fatalf("%d windows, %d asks: %v", len(sent), asked, sent)
	}
	for w, n := range sent {
		if n != 50 || !w.Equal(b.WindowStart(w)) {
			t.Fatalf("window %s has %d invites", w, n)
		}
	}
}

// TestBatchCountsWhatIsRecorded: after a restart (a new Batcher, empty memory) the attempts recorded
// in status still fill the window; a user counted in both places takes one slot.
func TestBatchCountsWhatIsRecorded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	restarted := &Batcher{Size: 3, Window: time.Minute}
	if restarted.Seeded() {
		t.Fatal("a new Batcher has not counted what is recorded")
	}
	if ok, _ := restarted.Reserve(now, "team", "c"); !ok {
		t.Fatal("c takes a slot")
	}
	restarted.Seed(now, []Recorded{{"team", "a"}, {"team", "b"}, {"team", "c"}})
	if !restarted.Seeded() {
		t.Fatal("Seed is remembered")
	}
	if ok, wait := restarted.Reserve(now, "team", "d"); ok || wait != 15*time.Second {
		t.Fatalf("the window holds a, b (recorded) and c (reserved and recorded, counted once): ok %v wait %v", ok, wait)
	}
	if ok, _ := restarted.Reserve(now, "team", "c"); !ok {
		t.Fatal("a user already counted keeps its slot")
	}
	if ok, _ := restarted.Reserve(now.Add(15*time.Second), "team", "d"); !ok {
		t.Fatal("d's slot is in the next window")
	}
}

func TestBatcherWaitAndRelease(t *testing.T) {
	b := &Batcher{Size: 2, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	b.Reserve(now, "team", "a")
	b.Reserve(now, "team", "b")
	ok, wait := b.Reserve(now, "team", "c")
	if ok || wait != 15*time.Second {
		t.Fatalf("full window: ok %v wait %v, want 15s to the next window", ok, wait)
	}
	b.Release("b")
	b.Release("c")
	if ok, _ := b.Reserve(now, "team", "c"); !ok {
		t.Fatal("a released slot is free again")
	}
	// A user who misses its window (its reconcile came late) queues again from the current one.
	b.Reserve(now, "team", "d")
	late := now.Add(3 * time.Minute)
	if ok, _ := b.Reserve(late, "team", "d"); !ok {
		t.Fatal("a slot in a closed window is dropped; the current window has room")
	}
}

// arrival is one user asking for its first slot at a time.
type arrival struct {
	ns, user string
	at       time.Time
}

// paced runs users through b as the controller does: each asks when it arrives, and again when the
// wait it was told is over, until it gets a slot. It returns the window each user's invite went out
// in, and how many times users asked.
func paced(t *testing.T, b *Batcher, arrivals []arrival) (map[string]time.Time, int) {
	t.Helper()
	type ask struct {
		arrival
		seq int
	}
	queue := make([]ask, 0, len(arrivals))
	for i, a := range arrivals {
		queue = append(queue, ask{a, i})
	}
	sent := map[string]time.Time{}
	perWindow := map[time.Time]map[string]int{}
	asks := 0
	for len(queue) > 0 {
		// The earliest ask next (ties: the order they were queued in), as the workqueue does.
		next := 0
		for i := range queue {
			if queue[i].at.Before(queue[next].at) || (queue[i].at.Equal(queue[next].at) && queue[i].seq < queue[next].seq) {
				next = i
			}
		}
		a := queue[next]
		queue = slices.Delete(queue, next, next+1)
		asks++
		ok, wait := b.Reserve(a.at, a.ns, a.user)
		if !ok {
			if wait <= 0 {
				t.Fatalf("%s/%s was told to wait %s", a.ns, a.user, wait)
			}
			a.at, a.seq = a.at.Add(wait), asks+len(arrivals)
			queue = append(queue, a)
			continue
		}
		w := b.WindowStart(a.at)
		sent[a.user] = w
		if perWindow[w] == nil {
			perWindow[w] = map[string]int{}
		}
		perWindow[w][a.ns]++
	}
	for w, byNS := range perWindow {
		total := 0
		for ns, n := range byNS {
			if n > b.Size {
				t.Fatalf("window %s: %d invites of namespace %s, more than %d", w.Format(time.TimeOnly), n, ns, b.Size)
			}
			total += n
		}
		if b.Global > 0 && total > b.Global {
			t.Fatalf("window %s: %d invites in all, more than %d", w.Format(time.TimeOnly), total, b.Global)
		}
	}
	return sent, asks
}

// TestOneNamespacesFloodDoesNotDelayAnother: one namespace (or its identity provider) creates 5,000
// users at once; another namespace's single invite, asked for a second later, goes out in the next
// window, not after the flood (one pacer for the whole cluster made it wait 100 windows, about 17
// minutes at the defaults). The global cap equals the per-namespace size here, the tightest setting.
func TestOneNamespacesFloodDoesNotDelayAnother(t *testing.T) {
	b := &Batcher{Size: 50, Global: 50, Window: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	arrivals := make([]arrival, 0, 5001)
	for i := range 5000 {
		arrivals = append(arrivals, arrival{"flood", fmt.Sprint("flood-", i), t0})
	}
	arrivals = append(arrivals, arrival{"quiet", "alice", t0.Add(time.Second)})
	sent, asks := paced(t, b, arrivals)
	first := b.WindowStart(t0)
	if got := sent["alice"].Sub(first); got > b.Window {
		t.Fatalf("alice's invite went out %s after the flood's first window, want at most one window (%s)", got, b.Window)
	}
	last := first
	for _, w := range sent {
		if w.After(last) {
			last = w
		}
	}
	t.Logf("alice's invite: %s after the flood's first window; the flood's last window: %s later; %d asks for %d users",
		sent["alice"].Sub(first), last.Sub(first), asks, len(arrivals))
	if len(sent) != 5001 {
		t.Fatalf("%d of 5001 invites went out", len(sent))
	}
	if asks > 2*len(arrivals)+10 {
		t.Fatalf("%d asks for %d users: a user moved for alice asks once more, no user asks once per window", asks, len(arrivals))
	}
}

// TestTheGlobalCapIsSharedEvenly: three namespaces flood at once and a fourth arrives later, under a
// global cap of 60 per window: every window the flood fills is split evenly (±1) between the
// namespaces still waiting, and the latecomer's first invite goes out within one window.
func TestTheGlobalCapIsSharedEvenly(t *testing.T) {
	b := &Batcher{Size: 50, Global: 60, Window: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	arrivals := make([]arrival, 0, 902)
	for _, ns := range []string{"a", "b", "c"} {
		for i := range 300 {
			arrivals = append(arrivals, arrival{ns, fmt.Sprint(ns, "-", i), t0})
		}
	}
	late := t0.Add(35 * time.Second) // inside the fourth window
	arrivals = append(arrivals, arrival{"d", "d-0", late}, arrival{"d", "d-1", late})
	sent, _ := paced(t, b, arrivals)
	perWindow := map[time.Time]map[string]int{}
	for _, a := range arrivals {
		w := sent[a.user]
		if perWindow[w] == nil {
			perWindow[w] = map[string]int{}
		}
		perWindow[w][a.ns]++
	}
	if got := sent["d-0"].Sub(b.WindowStart(late)); got > b.Window {
		t.Fatalf("the latecomer's first invite went out %s after the window it asked in", got)
	}
	for w := b.WindowStart(t0).Add(b.Window); w.Before(b.WindowStart(t0).Add(10 * b.Window)); w = w.Add(b.Window) {
		least, most := b.Size, 0
		for _, ns := range []string{"a", "b", "c"} {
			least, most = min(least, perWindow[w][ns]), max(most, perWindow[w][ns])
		}
		if most-least > 1 {
			t.Fatalf("window %s is split unevenly: %v", w.Format(time.TimeOnly), perWindow[w])
		}
	}
}

// TestNoGlobalCap: Global 0 paces each namespace alone.
func TestNoGlobalCap(t *testing.T) {
	b := &Batcher{Size: 2, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	for _, ns := range []string{"a", "b", "c"} {
		for i := range 2 {
			if ok, _ := b.Reserve(now, ns, fmt.Sprint(ns, i)); !ok {
				t.Fatalf("namespace %s has room for 2 in this window", ns)
			}
		}
		if ok, wait := b.Reserve(now, ns, ns+"-third"); ok || wait != 15*time.Second {
			t.Fatalf("a third user of %s waits for the next window: ok %v wait %v", ns, ok, wait)
		}
	}
	if q := b.Queued(now); q != 3 {
		t.Fatalf("%d queued, want 3", q)
	}
}

// TestSeedCountsPerNamespace: after a restart, attempts recorded in one namespace fill that
// namespace's window and the global cap, not another namespace's window.
func TestSeedCountsPerNamespace(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	b := &Batcher{Size: 2, Global: 3, Window: time.Minute}
	b.Seed(now, []Recorded{{"a", "a1"}, {"a", "a2"}})
	if ok, _ := b.Reserve(now, "a", "a3"); ok {
		t.Fatal("namespace a's window is full with what was recorded")
	}
	if ok, _ := b.Reserve(now, "b", "b1"); !ok {
		t.Fatal("namespace b has room: a's attempts count for a")
	}
	if ok, wait := b.Reserve(now, "c", "c1"); ok || wait != 15*time.Second {
		t.Fatalf("the global cap of 3 is reached: ok %v wait %v", ok, wait)
	}
}
