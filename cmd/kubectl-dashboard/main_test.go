package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "kubectl dashboard invite") {
		t.Fatalf("--help: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"invite", "a@b.io"}, &out, &errOut); code == 0 || out.Len() != 0 || !strings.Contains(errOut.String(), "not implemented") {
		t.Fatalf("a command that does not exist yet must fail: code %d, stderr %q", code, errOut.String())
	}
}
