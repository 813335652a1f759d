package accessserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Limits on untrusted input. A passcode is 30 characters and a namespace at most 63; anything far
// larger is refused before it is hashed or parsed further.
const (
	maxBodyBytes    = 4 << 10
	maxHeaderBytes  = 16 << 10
	maxAccountLen   = 63
	maxPasscodeLen  = 256
	headerAccountID = "X-Dashboard-Account-Id"
	headerPasscode  = "X-Dashboard-Passcode"
	headerUser      = "X-Dashboard-User"
	headerRole      = "X-Dashboard-Role"
)

// verifyRequest is the body of POST /v1/verify.
type verifyRequest struct {
	Account  string `json:"account"`
	Passcode string `json:"passcode"`
	// Permission optionally names the permissions required, comma-separated, as the
	// X-Dashboard-Required-Permission header does for /v1/auth.
	Permission string `json:"permission,omitempty"`
}

// errBadRequest marks errors that are the caller's fault (400).
var errBadRequest = errors.New("bad request")

// decodeVerifyRequest reads a POST /v1/verify body: one JSON object with account and passcode,
// and optionally permission, nothing else. Errors name the field and never echo the passcode.
//
// It reads up to 4 KiB first. A body that ended there and is a plain object (only the keys
// "account", "passcode" and "permission", once each, with string values of printable ASCII and no escapes,
// whitespace anywhere JSON allows it, nothing after) is taken apart by hand: encoding/json would
// decode exactly those strings from it, and accept it. Any other body, and a longer one, goes to
// decodeVerifyRequestJSON with the bytes read so far put back in front of the rest, so it gets the
// very answer (value or error message) it always got.
func decodeVerifyRequest(r io.Reader) (verifyRequest, error) {
	// No more than 4 KiB is read here, and decodeVerifyRequestJSON limits what it reads after
	// those to the same 4 KiB + 1 byte in all.
	buf := bodyBuffers.Get().(*[maxBodyBytes]byte)
	defer bodyBuffers.Put(buf)
	n, err := readUpTo(r, buf[:])
	read := buf[:n]
	switch err {
	case io.EOF: // the whole body
		if req, ok := parsePlainVerifyRequest(read); ok {
			return req, checkCredentials(req.Account, req.Passcode, "account", "passcode")
		}
		return decodeVerifyRequestJSON(bytes.NewReader(read))
	case nil: // 4 KiB and maybe more
		return decodeVerifyRequestJSON(io.MultiReader(bytes.NewReader(read), r))
	default:
		return decodeVerifyRequestJSON(io.MultiReader(bytes.NewReader(read), errReader{err}))
	}
}

// bodyBuffers holds the buffers decodeVerifyRequest reads bodies into.
var bodyBuffers = sync.Pool{New: func() any { return new([maxBodyBytes]byte) }}

// readUpTo reads into buf until it is full (nil error) or r fails (io.EOF at the end of r).
func readUpTo(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// errReader replays a read error after the bytes read before it.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// parsePlainVerifyRequest takes apart a plain verify request (see decodeVerifyRequest), or reports
// false for anything else, which encoding/json must judge.
func parsePlainVerifyRequest(b []byte) (verifyRequest, bool) {
	i := skipJSONSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return verifyRequest{}, false
	}
	i = skipJSONSpace(b, i+1)
	var fields [3][2]int // offsets of the values of verifyFields in b; {0, 0} when absent
	var seen [3]bool
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			ks, ke, next, ok := plainJSONString(b, i)
			if !ok {
				return verifyRequest{}, false
			}
			i = skipJSONSpace(b, next)
			if i == len(b) || b[i] != ':' {
				return verifyRequest{}, false
			}
			vs, ve, next, ok := plainJSONString(b, skipJSONSpace(b, i+1))
			if !ok {
				return verifyRequest{}, false
			}
			// An unknown key, one encoding/json matches case-insensitively, or one given twice
			// (encoding/json keeps the last one): let encoding/json judge.
			f := verifyField(b[ks:ke])
			if f < 0 || seen[f] {
				return verifyRequest{}, false
			}
			seen[f], fields[f] = true, [2]int{vs, ve}
			i = skipJSONSpace(b, next)
			if i == len(b) {
				return verifyRequest{}, false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return verifyRequest{}, false
			}
			i = skipJSONSpace(b, i+1)
		}
	}
	if skipJSONSpace(b, i) != len(b) {
		return verifyRequest{}, false // something after the object: encoding/json decides
	}
	all := string(b) // one allocation for every field
	return verifyRequest{Account: all[fields[0][0]:fields[0][1]], Passcode: all[fields[1][0]:fields[1][1]],
		Permission: all[fields[2][0]:fields[2][1]]}, true
}

// verifyFields are the keys of a verify request, in the order parsePlainVerifyRequest keeps them.
var verifyFields = [3]string{"account", "passcode", fieldPermission}

// verifyField is the index of key in verifyFields, or -1.
func verifyField(key []byte) int {
	for i, f := range verifyFields {
		if string(key) == f {
			return i
		}
	}
	return -1
}

// plainJSONString reads a string at b[i] that holds only printable ASCII other than the quote and
// the backslash (which encoding/json decodes to its bytes as they are): its contents are
// b[start:end], next is after its closing quote.
func plainJSONString(b []byte, i int) (start, end, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i + 1, j, j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

// skipJSONSpace skips the whitespace JSON allows between tokens.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// decodeVerifyRequestJSON is decodeVerifyRequest with encoding/json, reading only as far as the
// decoder needs.
func decodeVerifyRequestJSON(r io.Reader) (verifyRequest, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxBodyBytes+1))
	dec.DisallowUnknownFields()
	var req verifyRequest
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: body must be a JSON object {\"account\": \"<namespace>\", \"passcode\": \"...\"}: %s",
			errBadRequest, describeJSONError(err))
	}
	if dec.More() {
		return req, fmt.Errorf("%w: body must hold exactly one JSON object", errBadRequest)
	}
	if err := checkCredentials(req.Account, req.Passcode, "account", "passcode"); err != nil {
		return req, err
	}
	return req, nil
}

// credentialsFit is checkCredentials without the message, for the request path: an error is
// only built for a request that gets to see it.
func credentialsFit(account, passcode string) bool {
	return account != "" && len(account) <= maxAccountLen && passcode != "" && len(passcode) <= maxPasscodeLen
}

// checkCredentials validates the shape of an account and a passcode; names are the field or
// header names to report.
func checkCredentials(account, passcode, accountName, passcodeName string) error {
	switch {
	case account == "":
		return fmt.Errorf("%w: %s is required", errBadRequest, accountName)
	case len(account) > maxAccountLen:
		return fmt.Errorf("%w: %s must be a namespace name of at most %d characters", errBadRequest, accountName, maxAccountLen)
	case passcode == "":
		return fmt.Errorf("%w: %s is required", errBadRequest, passcodeName)
	case len(passcode) > maxPasscodeLen:
		return fmt.Errorf("%w: %s must be at most %d characters", errBadRequest, passcodeName, maxPasscodeLen)
	}
	return nil
}

// describeJSONError says what was wrong without quoting the input (which may hold a passcode).
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return "the body is over 4 KiB"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends too early (or is over 4 KiB)"
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s must be a %s", typeErr.Field, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}
