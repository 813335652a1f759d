package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dashboardops/access-operator/internal/testenv/webhookverify"
)

func testEvent() Event {
	return Event{
		Type:         EventPasscodeExpiring,
		Account:      "default",
		User:         "jane",
		Email:        "jane@example.com",
		DisplayName:  "Jane Doe",
		PasscodeName: "jane-api",
		Revision:     3,
		OccurredAt:   time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC),
		ExpiresAt:    time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		IdempotencyKey: EventKey(EventPasscodeExpiring, "0b6f1c9e-7d2a-4c1b-9a51-3f0e8d7c6b5a",
			"3"),
	}
}

func TestParseEventSet(t *testing.T) {
	def, err := ParseEventSet(DefaultEvents)
	if err != nil || !def.Has(EventPasscodeExpiring) || !def.Has(EventPasscodeExpired) || def.Has(EventPasscodeIssued) {
		t.Fatalf("default = %q, %v", def, err)
	}
	all, err := ParseEventSet(" passcode.issued,passcode.rotated ,passcode.expiring,passcode.expired,passcode.revoked," +
		"user.role-changed,user.access-revoked,passcode.issued")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range EventTypes() {
		if !all.Has(typ) {
			t.Errorf("%s missing", typ)
		}
	}
	if all.String() != "passcode.issued,passcode.rotated,passcode.expiring,passcode.expired,passcode.revoked,"+
		"user.role-changed,user.access-revoked" {
		t.Errorf("String() = %q", all)
	}
	if none, err := ParseEventSet(""); err != nil || none != 0 {
		t.Errorf("empty list = %q, %v", none, err)
	}
	_, err = ParseEventSet("passcode.expiring,passcode.stolen")
	if err == nil || !strings.Contains(err.Error(), `"passcode.stolen"`) || !strings.Contains(err.Error(), "user.access-revoked") {
		t.Errorf("unknown type: %v", err)
	}
	if got := all.Filter(emailed); got.String() != "passcode.expiring,passcode.expired" {
		t.Errorf("Filter(emailed) = %q", got)
	}
}

func TestEventKeyIsStableAndDistinct(t *testing.T) {
	uid := "0b6f1c9e-7d2a-4c1b-9a51-3f0e8d7c6b5a"
	k := EventKey(EventPasscodeExpired, uid, "3")
	if k != EventKey(EventPasscodeExpired, uid, "3") {
		t.Fatal("the same facts gave two keys")
	}
	if err := checkIdempotencyKey(k); err != nil || !strings.HasPrefix(k, "evt-") || len(k) != 4+64 {
		t.Fatalf("key %q: %v", k, err)
	}
	// Golden (sha256 of "passcode.expired\x00<uid>\x003\x00"): a manager of another build, after an
	// upgrade, derives the same key, so the receiver's dedupe holds across it.
	if want := "evt-f0ea820c9f94ed3f09cd64ac90ef9ed3ee65daa4cf6e0dac10e505172eb6e84e"; k != want {
		t.Fatalf("key %s, want %s", k, want)
	}
	others := []string{
		EventKey(EventPasscodeExpiring, uid, "3"),
		EventKey(EventPasscodeExpired, uid, "4"),
		EventKey(EventPasscodeExpired, "another-uid", "3"),
		EventKey(EventPasscodeExpired, uid, "3", ""),
		EventKey(EventUserRoleChanged, uid, "2", "Member", "Admin"),
		EventKey(EventUserRoleChanged, uid, "2", "MemberA", "dmin"), // separators keep facts apart
		EventKey(EventUserRoleChanged, uid, "3", "Member", "Admin"),
	}
	seen := map[string]bool{k: true}
	for _, o := range others {
		if seen[o] {
			t.Errorf("duplicate key %s", o)
		}
		seen[o] = true
	}
}

// forbidden are strings that must never appear in a notification: a passcode, a hash, an invite
// link, and the field names that would carry them.
var forbidden = []string{"sup3r-s3cret-passc0de", "sha256:", "invitations/", "hash", "passcode\":"}

func TestWebhookNotifyPayloadHeadersAndSignature(t *testing.T) {
	ev := testEvent()
	var body []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n := newWebhook(t, srv.URL).(EventNotifier)
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := webhookverify.Verify(webhookverify.Secret(testSecret), hdr, body, testNow); err != nil || hdr.Get("webhook-id") != ev.IdempotencyKey {
		t.Errorf("the signature does not verify: %v", err)
	}
	for _, h := range []string{"Idempotency-Key", "X-Dashboard-Idempotency-Key"} {
		if hdr.Get(h) != ev.IdempotencyKey {
			t.Errorf("%s = %q", h, hdr.Get(h))
		}
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "passcode.expiring", "account": "default", "user": "jane", "email": "jane@example.com",
		"passcodeName": "jane-api", "revision": float64(3), "occurredAt": "2026-04-30T12:00:00Z",
		"expiresAt": "2026-05-01T12:00:00Z", "idempotencyKey": ev.IdempotencyKey, "sentAt": "2026-04-24T09:15:00Z",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payload\n got %v\nwant %v", got, want)
	}
	for _, f := range forbidden {
		if bytes.Contains(body, []byte(f)) {
			t.Errorf("payload contains %q: %s", f, body)
		}
	}

	role := Event{Type: EventUserRoleChanged, Account: "default", User: "jane", Role: "Admin", PreviousRole: "Member",
		OccurredAt: ev.OccurredAt, IdempotencyKey: EventKey(EventUserRoleChanged, "uid", "2", "Member", "Admin")}
	if err := n.Notify(context.Background(), role); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"type":"user.role-changed"`)) || !bytes.Contains(body, []byte(`"previousRole":"Member"`)) ||
		bytes.Contains(body, []byte("passcodeName")) {
		t.Errorf("role-changed payload: %s", body)
	}
}

func TestWebhookNotifyFailureNamesStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	err := newWebhook(t, srv.URL).(EventNotifier).Notify(context.Background(), testEvent())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v", err)
	}
}

func TestNotifyRefusesInvalidEvents(t *testing.T) {
	n := NewLog(io.Discard).(EventNotifier)
	for name, mutate := range map[string]func(*Event){
		"type":     func(e *Event) { e.Type = "passcode.exploded" },
		"account":  func(e *Event) { e.Account = "" },
		"user":     func(e *Event) { e.User = "" },
		"passcode": func(e *Event) { e.PasscodeName = "" },
		"key":      func(e *Event) { e.IdempotencyKey = "a b" },
		"occurred": func(e *Event) { e.OccurredAt = time.Time{} },
	} {
		ev := testEvent()
		mutate(&ev)
		if err := n.Notify(context.Background(), ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLogNotifyLine(t *testing.T) {
	var buf bytes.Buffer
	n := NewLog(&buf).(EventNotifier)
	ev := testEvent()
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := "Notification passcode.expiring in project default: user jane, passcode jane-api revision 3 expires 2026-05-01T12:00:00Z [" +
		ev.IdempotencyKey + "]\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
	for _, f := range forbidden {
		if strings.Contains(buf.String(), f) {
			t.Errorf("log line contains %q", f)
		}
	}
}

func TestDelivers(t *testing.T) {
	smtpN := newSMTP(t, SMTPConfig{Address: "127.0.0.1:25", TLS: "none"}).(EventNotifier)
	for _, typ := range EventTypes() {
		if got, want := smtpN.Delivers(typ), typ == EventPasscodeExpiring || typ == EventPasscodeExpired; got != want {
			t.Errorf("smtp Delivers(%s) = %v", typ, got)
		}
		if !NewLog(io.Discard).(EventNotifier).Delivers(typ) {
			t.Errorf("log Delivers(%s) = false", typ)
		}
	}
}

func TestSMTPNotifyEmailsExpiringAndExpired(t *testing.T) {
	be := &testBackend{}
	addr := startSMTP(t, be, nil, false)
	n := newSMTP(t, SMTPConfig{Address: addr, TLS: "none"}).(EventNotifier)
	expiring := testEvent()
	expired := testEvent()
	expired.Type, expired.IdempotencyKey = EventPasscodeExpired, EventKey(EventPasscodeExpired, "uid", "3")
	rotated := testEvent()
	rotated.Type = EventPasscodeRotated
	for _, ev := range []Event{expiring, expired, rotated} {
		if err := n.Notify(context.Background(), ev); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
	}
	noMail := testEvent()
	noMail.Email = ""
	if err := n.Notify(context.Background(), noMail); !errors.Is(err, ErrNoRecipient) {
		t.Errorf("no Email: %v", err)
	}
	msgs := be.messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d emails, want 2 (rotated is not emailed)", len(msgs))
	}
	for i, ev := range []Event{expiring, expired} {
		if len(msgs[i].to) != 1 || msgs[i].to[0] != "jane@example.com" {
			t.Errorf("to %v", msgs[i].to)
		}
		e := parseEmail(t, msgs[i].data)
		if id := e.header.Get("Message-ID"); id != "<"+ev.IdempotencyKey+"@access-operator.dashboardops.io>" {
			t.Errorf("Message-ID = %q", id)
		}
		if e.header.Get("X-Dashboard-Idempotency-Key") != ev.IdempotencyKey || e.header.Get("X-Dashboard-Event-Type") != string(ev.Type) {
			t.Errorf("headers %v", e.header)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(e.header.Get("Subject"))
		wantSubject := "Your passcode jane-api for default expires on Friday, 1 May 2026, 12:00 UTC"
		if ev.Type == EventPasscodeExpired {
			wantSubject = "Your passcode jane-api for default has expired"
		}
		if subject != wantSubject {
			t.Errorf("Subject = %q, want %q", subject, wantSubject)
		}
		for _, pt := range []string{"text/plain", "text/html"} {
			body := e.parts[pt]
			for _, want := range []string{"Jane Doe", "jane-api", "revision 3", "default", "Friday, 1 May 2026, 12:00 UTC"} {
				if !strings.Contains(body, want) {
					t.Errorf("%s %s part lacks %q:\n%s", ev.Type, pt, want, body)
				}
			}
			for _, f := range forbidden[:3] {
				if strings.Contains(body, f) {
					t.Errorf("%s part contains %q", pt, f)
				}
			}
		}
	}
}
