package ops

import "fmt"

// Result is what an operation reports: the lines the plugin prints on stdout and the warnings
// it prints on stderr, each without its newline.
type Result struct {
	Lines    []string
	Warnings []string
}

func (r *Result) linef(format string, args ...any) {
	r.Lines = append(r.Lines, fmt.Sprintf(format, args...))
}

func (r *Result) warnf(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

func oneLine(format string, args ...any) Result {
	var r Result
	r.linef(format, args...)
	return r
}
