//go:build !unix

package accessserver_test

import "time"

// processCPU is not measured here: the benchmark prints 0.
func processCPU() time.Duration { return 0 }
