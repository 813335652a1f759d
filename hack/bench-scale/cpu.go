package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// This file reads how much CPU each process of the run used (utime + stime from /proc/<pid>/stat),
// so the report can say what the machine's cores were busy with while a phase ran: a throughput
// limited by the API server shows kube-apiserver and etcd using the cores, not the manager.

// clockTicks is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuSample is the CPU time used so far by each process of the run, by role.
type cpuSample map[string]time.Duration

// cpuRoles are the processes the report names, by the base name of their executable; the bench
// itself is added by pid.
var cpuRoles = []string{"kube-apiserver", "etcd", "manager"}

// sampleCPU reads the CPU time of kube-apiserver, etcd, the manager (its binary under dir) and
// the bench. A process that cannot be read is left out.
func sampleCPU(dir string) cpuSample {
	out := cpuSample{}
	if t, ok := processCPU(os.Getpid()); ok {
		out["bench"] = t
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		role := roleOf(pid, dir)
		if role == "" {
			continue
		}
		if t, ok := processCPU(pid); ok {
			out[role] += t
		}
	}
	return out
}

// roleOf names the process pid by its executable, or "" when it is none of cpuRoles.
func roleOf(pid int, dir string) string {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return ""
	}
	exe := string(bytes.SplitN(cmdline, []byte{0}, 2)[0])
	for _, r := range cpuRoles {
		if filepath.Base(exe) != r {
			continue
		}
		if r == "manager" && filepath.Dir(exe) != dir {
			return "" // another manager on the machine is not this run's
		}
		return r
	}
	return ""
}

// processCPU is the user and system CPU time pid used so far.
func processCPU(pid int) (time.Duration, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis are
	// space-separated, utime and stime being the 12th and 13th of them.
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// cpuUse is the CPU each role used over an interval of wall time.
type cpuUse struct {
	wall time.Duration
	used cpuSample
}

// cpuSince is the CPU used by each role since before, over wall time since start.
func cpuSince(dir string, before cpuSample, start time.Time) cpuUse {
	after := sampleCPU(dir)
	used := cpuSample{}
	for role, t := range after {
		used[role] = t - before[role]
	}
	return cpuUse{wall: time.Since(start), used: used}
}
