package main

import (
	"os"
	"testing"
)

func TestProcessCPUReadsThisProcess(t *testing.T) {
	burn := 0
	for i := range 50_000_000 {
		burn += i
	}
	if t0, ok := processCPU(os.Getpid()); !ok || t0 <= 0 {
		t.Fatalf("CPU of this process: %v %v (burned %d)", t0, ok, burn)
	}
	if _, ok := processCPU(-1); ok {
		t.Fatal("a process that does not exist has no CPU time")
	}
}
