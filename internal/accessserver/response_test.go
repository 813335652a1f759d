package accessserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/roles"
)

// writeJSONBefore is how every answer was written before the request path had precomputed ones.
func writeJSONBefore(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

func encodeBefore(t testing.TB, body any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	writeJSONBefore(rec, http.StatusOK, body)
	return rec.Body.String()
}

func TestFixedBodiesAsBefore(t *testing.T) {
	for _, c := range []struct {
		got  []byte
		want verdict
	}{
		{deniedBody, verdict{}},
		{validBody, verdict{Valid: true}},
		{throttledBody, verdict{Error: "too many failed attempts; retry later"}},
	} {
		if want := encodeBefore(t, c.want); string(c.got) != want {
			t.Errorf("%q, before %q", c.got, want)
		}
	}
	before, now := httptest.NewRecorder(), httptest.NewRecorder()
	writeJSONBefore(before, http.StatusUnauthorized, verdict{})
	writeFixed(now, http.StatusUnauthorized, deniedBody)
	if !reflect.DeepEqual(now.Header(), before.Header()) || now.Code != before.Code || now.Body.String() != before.Body.String() {
		t.Errorf("writeFixed: %d %v %q, before %d %v %q", now.Code, now.Header(), now.Body, before.Code, before.Header(), before.Body)
	}
	now = httptest.NewRecorder()
	writeJSON(now, http.StatusBadRequest, errorBody("x"))
	before = httptest.NewRecorder()
	writeJSONBefore(before, http.StatusBadRequest, errorBody("x"))
	if !reflect.DeepEqual(now.Header(), before.Header()) || now.Body.String() != before.Body.String() {
		t.Errorf("writeJSON: %v %q, before %v %q", now.Header(), now.Body, before.Header(), before.Body)
	}
}

// TestHeaderKeysAreCanonical: the handlers assign these keys to the header map directly, which is
// what Header.Set does only for a canonical key.
func TestHeaderKeysAreCanonical(t *testing.T) {
	for _, k := range []string{headerUser, headerRole, headerPermissions, headerRequiredPermission, "Content-Type", "Cache-Control"} {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("%q is %q in canonical form", k, c)
		}
	}
}

// assertGrantAsBefore: the 200 answer of /v1/verify is the bytes encoding/json writes for it.
func assertGrantAsBefore(t *testing.T, email, role string, perms []string, expiresAt time.Time) {
	t.Helper()
	set := newPermSet(roles.Normalize(perms), "")
	g := grant{email: email, role: accessv1alpha1.Role(role), expiresAt: expiresAt, perms: set}
	rec := httptest.NewRecorder()
	writeGrant(rec, g)
	before := httptest.NewRecorder()
	writeJSONBefore(before, http.StatusOK, verdict{Valid: true, Email: email, Role: role, Permissions: set.names,
		ExpiresAt: expiresAt.UTC().Format(time.RFC3339)})
	if rec.Body.String() != before.Body.String() || rec.Code != before.Code || !reflect.DeepEqual(rec.Header(), before.Header()) {
		t.Fatalf("email %q role %q permissions %q expires %v: %d %v %q, encoding/json %d %v %q", email, role, perms, expiresAt,
			rec.Code, rec.Header(), rec.Body, before.Code, before.Header(), before.Body)
	}
	if !strings.Contains(rec.Body.String(), `"permissions":[`) {
		t.Fatalf("no permissions list: %q", rec.Body)
	}
}

func TestGrantBodyAsBefore(t *testing.T) {
	at := time.Date(2026, 12, 29, 10, 0, 0, 0, time.UTC)
	permLists := [][]string{nil, {"reports.read"}, {"reports.write", "reports.read", "reports.write"}, {"bogus", "users.manage"},
		roles.KnownNames()}
	for _, email := range []string{"jane@example.com", "", `"jane"@example.com`, `back\slash@x`, "<jane&co>@example.com",
		"jané@example.com", "a\u2028b\u2029c", "\xff\xfe", "tab\there", "nl\n", "del\x7f", "nul\x00", "日本@例え.jp", strings.Repeat("x", 300)} {
		for _, role := range []string{"Member", "Admin", "", `Ro"le`} {
			for _, perms := range permLists {
				assertGrantAsBefore(t, email, role, perms, at)
			}
		}
	}
	for _, expires := range []time.Time{
		at, at.In(time.FixedZone("X", 5*3600+1800)), at.Add(123456789 * time.Nanosecond), {},
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1<<40, 0),
	} {
		assertGrantAsBefore(t, "jane@example.com", "Member", []string{"reports.read"}, expires)
	}
}

// TestSystemRoleSetsAsComputed: the sets precomputed per system role hold what internal/roles
// says, in every form an answer uses.
func TestSystemRoleSetsAsComputed(t *testing.T) {
	for _, name := range roles.SystemNames {
		perms, _ := roles.System(name)
		set := systemPermissions[accessv1alpha1.Role(name)]
		want, _ := json.Marshal(set.names)
		if set.header[0] != roles.Join(perms) || string(set.json) != string(want) || len(set.names) != len(perms) {
			t.Errorf("%s: header %q json %s names %q, want %q", name, set.header[0], set.json, set.names, perms)
		}
		for _, p := range roles.KnownNames() {
			if (set.mask&permissionBit(p) != 0) != roles.Has(perms, p) {
				t.Errorf("%s: mask disagrees on %s", name, p)
			}
		}
	}
	if string(noPermissions.json) != "[]" || noPermissions.header[0] != "" || noPermissions.names == nil || noPermissions.mask != 0 {
		t.Errorf("no permissions: %+v", noPermissions)
	}
}

func FuzzGrantBody(f *testing.F) {
	f.Add("jane@example.com", "Member", "reports.read,reports.write", int64(1798538400))
	f.Add(`"<&>"`, "\u2028", "", int64(-62135596800))
	f.Add("\xff", "", "nope,,users.manage", int64(1<<40))
	f.Fuzz(func(t *testing.T, email, role, perms string, unix int64) {
		assertGrantAsBefore(t, email, role, strings.Split(perms, ","), time.Unix(unix, 0))
	})
}

// grantServer is the access server over a fake cache holding one Active passcode, whose code it
// returns, for jane (email given).
func grantServer(t *testing.T, email string) (http.Handler, string) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	code := "dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	pc, u := fixture()
	pc.Status.Hash = passcode.Hash(code)
	u.Spec.Email = email
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pc, u).Build()
	return New(Config{Reader: c, APIReader: c, Writer: c, Clock: clocktesting.NewFakeClock(now)}).Handler(), code
}

type answer struct {
	status int
	header http.Header
	body   string
}

func ask(h http.Handler, r *http.Request) answer {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return answer{rec.Code, rec.Header(), rec.Body.String()}
}

// TestAnswersAsBefore: the answers of /v1/verify and /v1/auth, through the handler, are the
// status, headers and bytes they were.
func TestAnswersAsBefore(t *testing.T) {
	expires := now.Add(time.Hour).Format(time.RFC3339)
	for _, email := range []string{"jane@example.com", `"jané" <jane@example.com>`} {
		h, code := grantServer(t, email)
		verifyReq := func(code, from string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(fmt.Sprintf(`{"account":"team","passcode":%q}`, code)))
			r.RemoteAddr = from
			return r
		}
		authReq := func(code, from string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/v1/auth/some/path", nil)
			r.Header.Set(headerAccountID, "team")
			r.Header.Set(headerPasscode, code)
			r.RemoteAddr = from
			return r
		}
		jsonHeader := func(extra ...string) http.Header {
			h := http.Header{}
			for i := 0; i < len(extra); i += 2 {
				h.Set(extra[i], extra[i+1])
			}
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			return h
		}
		creator, _ := roles.System(roles.Creator)
		creatorNames := systemPermissions[accessv1alpha1.RoleCreator].names
		want := map[string]answer{
			"verify ok": {200, jsonHeader(), encodeBefore(t, verdict{Valid: true, Email: email, Role: "Creator", Permissions: creatorNames, ExpiresAt: expires})},
			"auth ok": {200, jsonHeader(headerUser, email, headerRole, "Creator", headerPermissions, roles.Join(creator)),
				encodeBefore(t, verdict{Valid: true})},
			"verify no": {401, jsonHeader(), encodeBefore(t, verdict{})},
			"auth no":   {401, jsonHeader(), encodeBefore(t, verdict{})},
		}
		got := map[string]answer{
			"verify ok": ask(h, verifyReq(code, "192.0.2.1:1")),
			"auth ok":   ask(h, authReq(code, "192.0.2.1:1")),
			"verify no": ask(h, verifyReq("dpc_WRONGWRONGWRONGWRONGWRONGW", "192.0.2.2:1")),
			"auth no":   ask(h, authReq("dpc_WRONGWRONGWRONGWRONGWRONGW", "192.0.2.3:1")),
		}
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s (%s): %+v, before %+v", k, email, got[k], want[k])
			}
		}
		// Throttled: the 429 body and a Retry-After.
		var last answer
		for range 11 {
			last = ask(h, authReq("nope", "192.0.2.4:1"))
		}
		if wantBody := encodeBefore(t, verdict{Error: "too many failed attempts; retry later"}); last.status != http.StatusTooManyRequests ||
			last.body != wantBody || last.header.Get("Retry-After") != "7" || last.header.Get("Content-Type") != "application/json" {
			t.Errorf("throttled: %+v", last)
		}
	}
}

// TestAnswersAreNotShared: the shared header values are never written into, whatever a handler
// or middleware adds to the header afterwards.
func TestAnswersAreNotShared(t *testing.T) {
	rec := httptest.NewRecorder()
	writeFixed(rec, http.StatusOK, validBody)
	rec.Header().Add("Content-Type", "text/plain")
	rec.Header().Add("Cache-Control", "private")
	if !reflect.DeepEqual(jsonContentType, []string{"application/json"}) || !reflect.DeepEqual(noStore, []string{"no-store"}) {
		t.Fatalf("shared header values changed: %q %q", jsonContentType, noStore)
	}
	if !bytes.Equal(validBody, []byte("{\"valid\":true}\n")) {
		t.Fatal("the body changed")
	}
}
