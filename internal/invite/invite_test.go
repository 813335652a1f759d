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

// TestBatchesOf50: 500 invites queued at once go out as 10 batches of 50, one per window.
func TestBatchesOf50(t *testing.T) {
	b := &Batcher{Size: 50, Window: 10 * time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	pending := make([]string, 500)
	for i := range pending {
		pending[i] = fmt.Sprint("user-", i)
	}
	var batches []int
	for len(pending) > 0 {
		var wait time.Duration
		var left []string
		// Every queued user's reconcile tries once in this window.
		for _, u := range pending {
			if ok, w := b.Reserve(now, u, nil); !ok {
				wait = w
				left = append(left, u)
			}
		}
		batches = append(batches, len(pending)-len(left))
		pending = left
		if len(pending) > 0 && wait <= 0 {
			t.Fatal("a full window must say how long to wait")
		}
		now = now.Add(wait)
	}
	if len(batches) != 10 {
		t.Fatalf("%d batches: %v", len(batches), batches)
	}
	for i, n := range batches {
		if n != 50 {
			t.Fatalf("batch %d has %d invites: %v", i, n, batches)
		}
	}
}

// TestBatchCountsWhatIsRecorded: after a restart (a new Batcher, empty memory) the attempts recorded
// in status still fill the window; a user counted in both places takes one slot.
func TestBatchCountsWhatIsRecorded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	recorded := make([]string, 0, 3)
	recorded = append(recorded, "a", "b")
	restarted := &Batcher{Size: 3, Window: time.Minute}
	if ok, _ := restarted.Reserve(now, "c", recorded); !ok {
		t.Fatal("one slot is left")
	}
	if ok, wait := restarted.Reserve(now, "d", recorded); ok || wait != 15*time.Second {
		t.Fatalf("the window holds a, b (recorded) and c (reserved): ok %v wait %v", ok, wait)
	}
	// c's attempt got recorded: it is counted once, not twice.
	recorded = append(recorded, "c")
	if ok, _ := restarted.Reserve(now, "c", recorded); !ok {
		t.Fatal("a user already counted keeps its slot")
	}
	if ok, _ := restarted.Reserve(now.Add(15*time.Second), "d", nil); !ok {
		t.Fatal("the next window starts empty")
	}
}

func TestBatcherWaitAndRelease(t *testing.T) {
	b := &Batcher{Size: 2, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	b.Reserve(now, "a", nil)
	b.Reserve(now, "b", nil)
	ok, wait := b.Reserve(now, "c", nil)
	if ok || wait != 15*time.Second {
		t.Fatalf("full window: ok %v wait %v, want 15s to the next window", ok, wait)
	}
	b.Release(now, "b")
	if ok, _ := b.Reserve(now, "c", nil); !ok {
		t.Fatal("a released slot is free again")
	}
}
