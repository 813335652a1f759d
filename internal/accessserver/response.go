package accessserver

import (
	"net/http"
	"sync"
	"time"
)

// The answers a gateway gets on every request are fixed bytes, or appended by hand for a grant,
// instead of going through encoding/json's reflection each time. They are the very bytes
// json.Encoder (SetEscapeHTML(false)) writes for the same verdict, newline included: the tests
// compare them with it.
var (
	deniedBody    = []byte(`{"valid":false}` + "\n")
	validBody     = []byte(`{"valid":true}` + "\n")
	throttledBody = []byte(`{"valid":false,"error":"too many failed attempts; retry later"}` + "\n")

	// Header values shared by every answer: net/http only reads them (it clones the header map at
	// WriteHeader), and assigning the canonical key skips Header.Set's canonicalization and
	// allocation.
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
}

// writeFixed writes a precomputed JSON answer with the headers writeJSON sets.
func writeFixed(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// grantBuffers hold the answers writeGrant appends (w.Write copies them).
var grantBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// writeGrant answers a valid /v1/verify: {"valid":true,"email":...,"role":...,"permissions":[...],
// "expiresAt":...}.
func writeGrant(w http.ResponseWriter, g grant) {
	expiresAt := g.expiresAt.UTC()
	perms := g.perms
	if perms == nil {
		perms = noPermissions
	}
	buf := grantBuffers.Get().(*[]byte)
	defer grantBuffers.Put(buf)
	if b, ok := appendGrant((*buf)[:0], g.email, string(g.role), perms.json, expiresAt); ok {
		writeFixed(w, http.StatusOK, b)
		if cap(b) <= maxBodyBytes {
			*buf = b // keep a buffer that grew, within reason
		}
		return
	}
	// A string that needs escaping: let encoding/json escape it.
	writeJSON(w, http.StatusOK, verdict{Valid: true, Email: g.email, Role: string(g.role), Permissions: perms.names,
		ExpiresAt: expiresAt.Format(time.RFC3339)})
}

// appendGrant appends what json.Encoder writes for verdict{Valid: true, Email: email, Role: role,
// Permissions: <the names in permissions>, ExpiresAt: expiresAt.Format(time.RFC3339)}, or reports
// false when a string holds a byte that encoding/json would escape (or might: anything but
// printable ASCII, '"' and '\'). permissions is the list already in JSON (permSet.json).
func appendGrant(b []byte, email, role string, permissions []byte, expiresAt time.Time) ([]byte, bool) {
	if !plainJSON(email) || !plainJSON(role) {
		return nil, false
	}
	b = append(b, `{"valid":true`...)
	if email != "" { // omitempty
		b = append(b, `,"email":"`...)
		b = append(b, email...)
		b = append(b, '"')
	}
	if role != "" { // omitempty
		b = append(b, `,"role":"`...)
		b = append(b, role...)
		b = append(b, '"')
	}
	b = append(b, `,"permissions":`...) // omitzero: a grant always has a list, maybe []
	b = append(b, permissions...)
	b = append(b, `,"expiresAt":"`...)
	start := len(b)
	b = expiresAt.AppendFormat(b, time.RFC3339)
	if start == len(b) || !plainJSON(b[start:]) { // never empty, always ASCII: checked all the same
		return nil, false
	}
	return append(b, "\"}\n"...), true
}

// plainJSON reports whether s is written by encoding/json as is between quotes: printable ASCII
// other than '"' and '\'.
func plainJSON[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
