package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestLogWritesLinkAndEmail(t *testing.T) {
	var out strings.Builder
	inv := testInvite()
	if err := NewLog(&out).Send(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	want := "Invite for jane@example.com (Member in project default): open " + inv.AcceptURL + " (expires 2026-05-01T12:30:00Z)\n"
	if out.String() != want {
		t.Fatalf("got  %q\nwant %q", out.String(), want)
	}
}

func TestLogOneLinePerInviteConcurrently(t *testing.T) {
	var out strings.Builder
	n := NewLog(&out)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := n.Send(context.Background(), testInvite()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("got %d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "Invite for jane@example.com ") || !strings.HasSuffix(l, "Z)") {
			t.Fatalf("mangled line %q", l)
		}
	}
}

// echoWriter fails with an error that quotes what it was asked to write, like a careless writer might.
type echoWriter struct{}

func (echoWriter) Write(p []byte) (int, error) {
	return 0, errors.New("cannot write " + string(p))
}

func TestLogErrorHasNoLink(t *testing.T) {
	inv := testInvite()
	err := NewLog(echoWriter{}).Send(context.Background(), inv)
	assertNoSecret(t, err, inv)
	if !strings.Contains(err.Error(), "cannot write") {
		t.Fatalf("error lost its cause: %v", err)
	}
}

func TestLogHonoursCancelledContext(t *testing.T) {
	var out strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewLog(&out).Send(ctx, testInvite()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q after cancel", out.String())
	}
}
