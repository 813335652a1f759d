package ops

import "errors"

// ExitUsage and ExitCode mirror the plugin's exit codes for the tests moved here with validate.go:
// a UsageError is what the plugin turns into exit code 2.
const ExitUsage = 2

func ExitCode(err error) int {
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return 1
}
