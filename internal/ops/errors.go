package ops

import "fmt"

// UsageError is an error in a command line, form or input, found before anything was written.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf makes a UsageError from a format, like fmt.Errorf.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}
