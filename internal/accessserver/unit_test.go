package accessserver

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mt(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func fixture() (*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser) {
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"},
		Spec: accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: "jane"}, Tenure: "1h",
			Rotation: &accessv1alpha1.RotationSpec{GracePeriod: "1m"}},
		Status: accessv1alpha1.PasscodeStatus{Phase: accessv1alpha1.PasscodeActive, Hash: "sha256:cur", UserUID: "uid-jane",
			IssuedAt: mt(now), ExpiresAt: mt(now.Add(time.Hour)),
			Previous: &accessv1alpha1.PreviousPasscode{Hash: "sha256:prev", ValidUntil: metav1.NewTime(now.Add(time.Minute))}},
	}
	u := &accessv1alpha1.DashboardUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane", UID: "uid-jane"},
		Spec:       accessv1alpha1.DashboardUserSpec{Email: "jane@example.com", Role: accessv1alpha1.RoleCreator, Access: accessv1alpha1.AccessGranted},
	}
	return pc, u
}

func TestValidGrant(t *testing.T) {
	cases := []struct {
		name    string
		at      time.Time
		account string
		hash    string
		mod     func(*accessv1alpha1.Passcode, *accessv1alpha1.DashboardUser)
		ok      bool
	}{
		{"current hash", now, "team", "sha256:cur", nil, true},
		{"current hash one second before expiry", now.Add(time.Hour - time.Second), "team", "sha256:cur", nil, true},
		{"current hash at expiresAt", now.Add(time.Hour), "team", "sha256:cur", nil, false},
		{"previous hash inside grace", now.Add(59 * time.Second), "team", "sha256:prev", nil, true},
		{"previous hash at validUntil", now.Add(time.Minute), "team", "sha256:prev", nil, false},
		{"unknown hash", now, "team", "sha256:other", nil, false},
		{"other account", now, "elsewhere", "sha256:cur", nil, false},
		{"expired phase", now, "team", "sha256:cur", func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
			pc.Status.Phase = accessv1alpha1.PasscodeExpired
		}, false},
		{"revoked phase", now, "team", "sha256:cur", func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
			pc.Status.Phase = accessv1alpha1.PasscodeRevoked
		}, false},
		{"spec.revoked before the controller acted", now, "team", "sha256:cur", func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
			pc.Spec.Revoked = true
		}, false},
		{"user revoked before the controller acted", now, "team", "sha256:cur", func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) {
			u.Spec.Access = accessv1alpha1.AccessRevoked
		}, false},
		{"user being deleted", now, "team", "sha256:cur", func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) {
			u.DeletionTimestamp = mt(now)
		}, false},
		{"user not accepted yet still works (automation)", now, "team", "sha256:cur", func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) {
			u.Status.Phase = accessv1alpha1.UserInvited
		}, true},
		{"a different user object", now, "team", "sha256:cur", func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) {
			u.Name = "john"
		}, false},
		{"the user deleted and created again under the same name", now, "team", "sha256:cur",
			func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) { u.UID = "uid-bob" }, false},
		{"the previous passcode for a re-created user", now, "team", "sha256:prev",
			func(_ *accessv1alpha1.Passcode, u *accessv1alpha1.DashboardUser) { u.UID = "uid-bob" }, false},
		{"issued before userUID existed: bound by its one owner reference", now, "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.UserUID = ""
				pc.OwnerReferences = []metav1.OwnerReference{{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: "jane", UID: "uid-jane"}}
			}, true},
		{"issued before userUID existed, owned by the old user only", now, "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.UserUID = ""
				pc.OwnerReferences = []metav1.OwnerReference{{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DashboardUser", Name: "jane", UID: "uid-old"}}
			}, false},
		{"bound to nobody", now, "team", "sha256:cur", func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
			pc.Status.UserUID = ""
		}, false},
		// Status is no authority beyond the spec: whoever can patch passcodes/status cannot mint more.
		{"expiresAt forged past issuedAt + tenure", now.Add(2 * time.Hour), "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.ExpiresAt = mt(now.Add(100 * 24 * time.Hour))
			}, false},
		{"expiresAt forged, still inside the tenure", now.Add(59 * time.Minute), "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.ExpiresAt = mt(now.Add(100 * 24 * time.Hour))
			}, true},
		{"issuedAt forged into the future", now.Add(2 * time.Hour), "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.IssuedAt, pc.Status.ExpiresAt = mt(now.Add(24*time.Hour)), mt(now.Add(25*time.Hour))
			}, false},
		{"no issuedAt", now, "team", "sha256:cur", func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
			pc.Status.IssuedAt = nil
		}, false},
		{"previous validUntil forged past the grace period", now.Add(2 * time.Minute), "team", "sha256:prev",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) {
				pc.Status.Previous.ValidUntil = metav1.NewTime(now.Add(24 * time.Hour))
			}, false},
		{"a previous passcode without any grace period in the spec", now.Add(30 * time.Second), "team", "sha256:prev",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) { pc.Spec.Rotation = nil }, false},
		{"a shortened tenure shortens the current passcode", now.Add(31 * time.Minute), "team", "sha256:cur",
			func(pc *accessv1alpha1.Passcode, _ *accessv1alpha1.DashboardUser) { pc.Spec.Tenure = "30m" }, false},
	}
	for _, c := range cases {
		pc, u := fixture()
		if c.mod != nil {
			c.mod(pc, u)
		}
		g, ok := validGrant(c.at, c.account, c.hash, pc, u)
		if ok != c.ok {
			t.Errorf("%s: ok = %v", c.name, ok)
		}
		if ok && (g.email != "jane@example.com" || g.role != accessv1alpha1.RoleCreator) {
			t.Errorf("%s: grant %+v", c.name, g)
		}
	}
	if _, ok := validGrant(now, "team", "sha256:cur", nil, nil); ok {
		t.Error("nil objects must be refused")
	}
}

func TestDecodeVerifyRequest(t *testing.T) {
	cases := []struct {
		body    string
		wantErr string
	}{
		{`{"account":"team","passcode":"dpc_X"}`, ""},
		{``, "the body is empty"},
		{`{`, "ends too early"},
		{`[]`, "must be a"},
		{`{"account":"team"}`, "passcode is required"},
		{`{"passcode":"x"}`, "account is required"},
		{`{"account":1,"passcode":"x"}`, "field account must be a string"},
		{`{"account":"team","passcode":"x","extra":1}`, `unknown field "extra"`},
		{`{"account":"team","passcode":"x"} {"again":1}`, "exactly one JSON object"},
		{`{"account":"` + strings.Repeat("a", 64) + `","passcode":"x"}`, "account must be a namespace name"},
		{`{"account":"team","passcode":"` + strings.Repeat("p", 300) + `"}`, "passcode must be at most"},
		{`{"account":"team","passcode":"` + strings.Repeat("p", 5000) + `"}`, "ends too early (or is over 4 KiB)"},
		{`{"account":"team","passcode":"dpc_SECRET` + "\x00" + `"`, "invalid JSON at byte"},
	}
	for _, c := range cases {
		_, err := decodeVerifyRequest(strings.NewReader(c.body))
		if c.wantErr == "" && err != nil {
			t.Errorf("%q: unexpected %v", c.body, err)
		}
		if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%q: got %v, want %q", c.body, err, c.wantErr)
		}
		if err != nil && (!errors.Is(err, errBadRequest) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "dpc_")) {
			t.Errorf("%q: the error must be a bad request and never echo the passcode: %v", c.body, err)
		}
	}
}

func TestThrottle(t *testing.T) {
	th := newFailureThrottle(3, 10*time.Second, 100, 64)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if _, blocked := th.blocked(a, now); blocked {
			t.Fatalf("blocked after %d failures, burst is 3", i)
		}
		th.fail(a, now)
	}
	wait, blocked := th.blocked(a, now)
	if !blocked || wait != 10*time.Second {
		t.Fatalf("after the burst: blocked %v, wait %v", blocked, wait)
	}
	if _, blocked := th.blocked(b, now); blocked {
		t.Fatal("another client is not affected")
	}
	if _, blocked := th.blocked(a, now.Add(10*time.Second)); blocked {
		t.Fatal("one failure is allowed again after one refill")
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	th := newFailureThrottle(3, time.Second, 1000, 64)
	for i := range 20_000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		th.fail(addr, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := th.size(); n > 1000 {
		t.Fatalf("%d buckets for a limit of 1000", n)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		peer, xff, want string
	}{
		{"192.0.2.7:5555", "", "192.0.2.7"},
		{"192.0.2.7:5555", "203.0.113.9", "192.0.2.7"},                     // untrusted peer: header ignored
		{"10.1.1.1:5555", "203.0.113.9", "203.0.113.9"},                    // gateway names the client
		{"10.1.1.1:5555", "1.2.3.4, 203.0.113.9, 10.2.2.2", "203.0.113.9"}, // spoofed left part ignored
		{"10.1.1.1:5555", "not-an-ip", "10.1.1.1"},
		{"10.1.1.1:5555", "", "10.1.1.1"},
		{"[::ffff:192.0.2.7]:5555", "", "192.0.2.7"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/v1/auth", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientAddr(r, trusted); got.String() != c.want {
			t.Errorf("peer %s xff %q: got %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestInviteStateOf(t *testing.T) {
	base := func() *accessv1alpha1.DashboardUser {
		return &accessv1alpha1.DashboardUser{
			Spec: accessv1alpha1.DashboardUserSpec{Access: accessv1alpha1.AccessGranted},
			Status: accessv1alpha1.DashboardUserStatus{Invite: &accessv1alpha1.InviteStatus{
				TokenHash: "sha256:x", SentAt: mt(now.Add(-time.Hour)), ExpiresAt: mt(now.Add(time.Hour))}},
		}
	}
	cases := []struct {
		name string
		at   time.Time
		mod  func(*accessv1alpha1.DashboardUser)
		want inviteState
	}{
		{"open", now, nil, inviteOpen},
		{"expired at expiresAt", now.Add(time.Hour), nil, inviteExpired},
		{"used", now, func(u *accessv1alpha1.DashboardUser) { u.Status.Invite.AcceptedAt = mt(now) }, inviteUsed},
		{"revoked", now, func(u *accessv1alpha1.DashboardUser) { u.Spec.Access = accessv1alpha1.AccessRevoked }, inviteRevoked},
		{"not delivered yet", now, func(u *accessv1alpha1.DashboardUser) { u.Status.Invite.ExpiresAt = nil }, inviteUnknown},
		{"being deleted", now, func(u *accessv1alpha1.DashboardUser) { u.DeletionTimestamp = mt(now) }, inviteUnknown},
	}
	for _, c := range cases {
		u := base()
		if c.mod != nil {
			c.mod(u)
		}
		if got := inviteStateOf(c.at, u); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if inviteStateOf(now, nil) != inviteUnknown {
		t.Error("no user is an unknown link")
	}
}

func TestInvitePageEscapesAndSetsSafeHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	writePage(rec, 200, page{Title: `<script>alert(1)</script>`, Message: "m", Form: true, Action: "/invitations/X/accept"})
	body := rec.Body.String()
	if strings.Contains(body, "<script>") {
		t.Fatal("page text must be escaped")
	}
	for _, h := range []string{"Content-Security-Policy", "Referrer-Policy", "X-Frame-Options", "Cache-Control"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if !strings.Contains(body, `<form method="post" action="/invitations/X/accept">`) {
		t.Error("the Accept form posts without JavaScript")
	}
}

// TestThrottleKeysIPv6ByNetwork: an IPv6 client cannot escape the throttle by rotating through its
// /64; another /64 is another client; the prefix length is configurable.
func TestThrottleKeysIPv6ByNetwork(t *testing.T) {
	th := newFailureThrottle(2, time.Minute, 100, 64)
	for i := range 2 {
		th.fail(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), now)
	}
	if _, blocked := th.blocked(netip.MustParseAddr("2001:db8:1:2:ffff::9"), now); !blocked {
		t.Fatal("another address of the same /64 is the same client")
	}
	if _, blocked := th.blocked(netip.MustParseAddr("2001:db8:1:3::1"), now); blocked {
		t.Fatal("another /64 is another client")
	}
	per128 := newFailureThrottle(2, time.Minute, 100, 128)
	per128.fail(netip.MustParseAddr("2001:db8::1"), now)
	per128.fail(netip.MustParseAddr("2001:db8::1"), now)
	if _, blocked := per128.blocked(netip.MustParseAddr("2001:db8::2"), now); blocked {
		t.Fatal("with a /128 key every address is its own client")
	}
}

// TestThrottleForgetsTheLeastRecentlyFailing: when full, the client that failed longest ago goes
// first; one that keeps failing stays throttled.
func TestThrottleForgetsTheLeastRecentlyFailing(t *testing.T) {
	th := newFailureThrottle(1, time.Hour, 3, 64)
	attacker := netip.MustParseAddr("198.51.100.66")
	th.fail(attacker, now)
	for i := range 10 {
		th.fail(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), now)
		th.fail(attacker, now) // still failing: most recent, never evicted
	}
	if th.size() != 3 {
		t.Fatalf("%d clients for a limit of 3", th.size())
	}
	if _, blocked := th.blocked(attacker, now); !blocked {
		t.Fatal("a client that keeps failing is never forgotten while others come and go")
	}
}
