// Package memlimit sets the Go runtime's soft memory limit (GOMEMLIMIT) from the memory limit of
// the container the process runs in, read from its cgroup at start.
//
// Without it the garbage collector lets the heap grow to twice the live heap (GOGC=100) whatever
// the container allows, so a manager whose live heap is more than half its limit is killed by the
// kernel although its data fits. With it, the collector works harder as the heap nears the limit.
package memlimit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's limit given to the Go runtime. The runtime's limit covers only what
// Go maps (heap, stacks, runtime metadata); the kernel also charges the container for the binary's
// and other files' page cache and for memory outside Go's accounting, and the runtime may overshoot
// a soft limit briefly between collections. 10 % of a 256Mi limit (25 MiB) covers those figures as
// measured (test/memory) while leaving the heap 90 %.
const Fraction = 0.9

// unlimited is the threshold above which a limit means "none": cgroup v1 writes "no limit" as the
// largest page-aligned int64 (9223372036854771712); no real container limit is near 2^62.
const unlimited = int64(1) << 62

// Where the cgroup filesystems are mounted: v2 (unified) at the root, or in hybrid mode at
// "unified"; v1 controllers each in their own directory.
const cgroupRoot = "/sys/fs/cgroup"

// ParseLimit reads the contents of a cgroup v2 memory.max or a cgroup v1 memory.limit_in_bytes:
// ok is false when it says there is no limit ("max", or a huge number).
func ParseLimit(contents string) (limit int64, ok bool, err error) {
	s := strings.TrimSpace(contents)
	if s == "max" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
		return 0, false, nil // larger than int64: no limit
	case err != nil:
		return 0, false, fmt.Errorf("a memory limit is a byte count or \"max\", not %q", s)
	case n <= 0:
		return 0, false, fmt.Errorf("a memory limit is a positive byte count, not %d", n)
	case n >= unlimited:
		return 0, false, nil
	}
	return n, true, nil
}

// LimitFiles lists the files that may hold this process's memory limit, given the contents of
// /proc/self/cgroup: its own cgroup's file first, then each ancestor's up to the mount's root (a
// limit set on a parent, e.g. the Pod's cgroup, binds the child too). cgroup v2's memory.max is
// listed before v1's memory.limit_in_bytes; files that do not exist are skipped by the caller.
func LimitFiles(procSelfCgroup string) []string {
	var v2, v1 []string
	for _, line := range strings.Split(procSelfCgroup, "\n") {
		// hierarchy-ID:controller-list:cgroup-path; the path may itself hold ':'.
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			for _, dir := range []string{cgroupRoot, path.Join(cgroupRoot, "unified")} {
				v2 = append(v2, ancestors(dir, parts[2], "memory.max")...)
			}
		case hasController(parts[1], "memory"):
			v1 = append(v1, ancestors(path.Join(cgroupRoot, parts[1]), parts[2], "memory.limit_in_bytes")...)
		}
	}
	return append(v2, v1...)
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// ancestors is mount/p/file, mount/parent(p)/file, ..., excluding the mount's root (the root
// cgroup has no limit file in v2, and in v1 its file says "no limit").
func ancestors(mount, p, file string) []string {
	var out []string
	for p = path.Clean(p); p != "/" && p != "."; p = path.Dir(p) {
		out = append(out, path.Join(mount, p, file))
	}
	// In a container with its own cgroup namespace the path is "/" and the container's cgroup is
	// mounted at the root: its file is there. Without one (cgroup v1 runtimes), the path is the
	// host's, absent inside the container, whose own group is also mounted at the root.
	return append(out, path.Join(mount, file))
}

// Found is the limit found and the file it came from.
type Found struct {
	Limit int64
	File  string
}

// Lowest picks the lowest limit among the files' contents (read maps each file that exists to its
// contents). Files that say "no limit" are skipped; a malformed one is an error naming it.
// ok is false when none sets a limit.
func Lowest(files []string, read map[string]string) (found Found, ok bool, err error) {
	for _, f := range files {
		contents, exists := read[f]
		if !exists {
			continue
		}
		n, limited, err := ParseLimit(contents)
		if err != nil {
			return Found{}, false, fmt.Errorf("%s: %w", f, err)
		}
		if limited && (!ok || n < found.Limit) {
			found, ok = Found{Limit: n, File: f}, true
		}
	}
	return found, ok, nil
}

// SoftLimit is the runtime limit for a container limit: Fraction of it.
func SoftLimit(containerLimit int64) int64 {
	return int64(math.Floor(float64(containerLimit) * Fraction))
}

// Decision is what FromEnvironment did, for the start-up log.
type Decision struct {
	// Applied is the soft limit set (bytes); 0 when none was set.
	Applied int64
	// Source says where it came from, or why none was set.
	Source string
	// ContainerLimit is the cgroup's limit (bytes), when one was found.
	ContainerLimit int64
}

// FromEnvironment sets the runtime's soft memory limit to Fraction of the cgroup's memory limit,
// unless GOMEMLIMIT is set (then the runtime already applied it: an operator's explicit choice,
// "off" included, wins) or there is no limit.
func FromEnvironment() (Decision, error) {
	if v, set := os.LookupEnv("GOMEMLIMIT"); set {
		return Decision{Source: "GOMEMLIMIT=" + v + " in the environment"}, nil
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Decision{Source: "no /proc/self/cgroup"}, nil //nolint:nilerr // not Linux, or no procfs: nothing to read
	}
	files := LimitFiles(string(self))
	read := make(map[string]string, len(files))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil { //nolint:gosec // cgroup files under /sys/fs/cgroup
			read[f] = string(b)
		}
	}
	found, ok, err := Lowest(files, read)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		return Decision{Source: "no memory limit in the cgroup"}, nil
	}
	soft := SoftLimit(found.Limit)
	debug.SetMemoryLimit(soft)
	return Decision{Applied: soft, Source: found.File, ContainerLimit: found.Limit}, nil
}
