package accessserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
}

// errBadRequest marks errors that are the caller's fault (400).
var errBadRequest = errors.New("bad request")

// decodeVerifyRequest reads a POST /v1/verify body: one JSON object with account and passcode,
// nothing else. Errors name the field and never echo the passcode.
func decodeVerifyRequest(r io.Reader) (verifyRequest, error) {
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
