package plugin

import (
	"errors"
	"fmt"

	"github.com/dashboardops/access-operator/internal/ops"
)

// Exit codes scripts can rely on. They are documented in the root command's help.
const (
	// ExitOK: the command did what it was asked (a no-op, such as inviting someone already
	// invited, is a success too).
	ExitOK = 0
	// ExitAPIError: the API server refused or failed the request (not found, forbidden, conflict,
	// unreachable), or the kubeconfig could not be used.
	ExitAPIError = 1
	// ExitUsage: bad arguments, flags or input; the command wrote nothing.
	ExitUsage = 2
)

// UsageError is an error in the command line or its input, found before anything was written.
type UsageError = ops.UsageError

// usageErrorf makes a UsageError from a format, like fmt.Errorf.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// asUsage wraps err (if any) as a UsageError.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	return &UsageError{Err: err}
}

// ExitCode maps an error returned by the root command to the process exit code: nil is ExitOK, a
// UsageError is ExitUsage, anything else (the API server's answers, connection failures) is
// ExitAPIError.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitAPIError
}
