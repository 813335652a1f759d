package invite

import (
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := NewToken()
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
	pending := 500
	var batches []int
	for pending > 0 {
		sent := 0
		var wait time.Duration
		// Every queued user's reconcile tries once in this window.
		for range pending {
			ok, w := b.Reserve(now)
			if ok {
				sent++
			} else {
				wait = w
			}
		}
		batches = append(batches, sent)
		pending -= sent
		if pending > 0 && wait <= 0 {
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

func TestBatcherWaitAndRelease(t *testing.T) {
	b := &Batcher{Size: 2, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 45, 0, time.UTC)
	b.Reserve(now)
	b.Reserve(now)
	ok, wait := b.Reserve(now)
	if ok || wait != 15*time.Second {
		t.Fatalf("full window: ok %v wait %v, want 15s to the next window", ok, wait)
	}
	b.Release(now)
	if ok, _ := b.Reserve(now); !ok {
		t.Fatal("a released slot is free again")
	}
}
