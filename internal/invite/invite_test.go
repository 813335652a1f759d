package invite

import (
	"fmt"
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
		if ok, wait := b.Reserve(start, u); !ok {
			wakeAt[u] = start.Add(wait)
		}
	}
	if q := b.Queued(start); q != 450 {
		t.Fatalf("%d users queued for later windows, want 450", q)
	}
	sent := map[time.Time]int{b.WindowStart(start): 50}
	for u, at := range wakeAt {
		asked++
		if ok, _ := b.Reserve(at, u); !ok {
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
	if ok, _ := restarted.Reserve(now, "c"); !ok {
		t.Fatal("c takes a slot")
	}
	restarted.Seed(now, []string{"a", "b", "c"})
	if !restarted.Seeded() {
		t.Fatal("Seed is remembered")
	}
	if ok, wait := restarted.Reserve(now, "d"); ok || wait != 15*time.Second {
		t.Fatalf("the window holds a, b (recorded) and c (reserved and recorded, counted once): ok %v wait %v", ok, wait)
	}
	if ok, _ := restarted.Reserve(now, "c"); !ok {
		t.Fatal("a user already counted keeps its slot")
	}
	if ok, _ := restarted.Reserve(now.Add(15*time.Second), "d"); !ok {
		t.Fatal("d's slot is in the next window")
	}
}

func TestBatcherWaitAndRelease(t *testing.T) {
	b := &Batcher{Size: 2, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	b.Reserve(now, "a")
	b.Reserve(now, "b")
	ok, wait := b.Reserve(now, "c")
	if ok || wait != 15*time.Second {
		t.Fatalf("full window: ok %v wait %v, want 15s to the next window", ok, wait)
	}
	b.Release("b")
	b.Release("c")
	if ok, _ := b.Reserve(now, "c"); !ok {
		t.Fatal("a released slot is free again")
	}
	// A user who misses its window (its reconcile came late) queues again from the current one.
	b.Reserve(now, "d")
	late := now.Add(3 * time.Minute)
	if ok, _ := b.Reserve(late, "d"); !ok {
		t.Fatal("a slot in a closed window is dropped; the current window has room")
	}
}
