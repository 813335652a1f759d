package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
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

// sampleCPU reads the CPU time of this run's kube-apiserver (the one writing its audit log under
// dir), its etcd (the one serving that kube-apiserver's --etcd-servers), the manager (its binary
// under dir) and the bench. Other runs' control planes on the machine (other tests) are left out:
// one of them exiting between two samples made the figures negative. A process that cannot be
// read is left out too.
func sampleCPU(dir string) cpuSample {
	out := cpuSample{}
	if t, ok := processCPU(os.Getpid()); ok {
		out["bench"] = t
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	var procs []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		procs = append(procs, proc{pid: pid, args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	for pid, role := range runRoles(procs, dir) {
		if t, ok := processCPU(pid); ok {
			out[role] += t
		}
	}
	return out
}

// proc is a process and its command line.
type proc struct {
	pid  int
	args []string
}

// runRoles names this run's processes among procs by role: the manager by its binary
// under dir, kube-apiserver by its audit log under dir, etcd by the URL that kube-apiserver uses.
func runRoles(procs []proc, dir string) map[int]string {
	roles := map[int]string{}
	var etcdURLs []string
	for _, p := range procs {
		switch filepath.Base(p.args[0]) {
		case "manager":
			if filepath.Dir(p.args[0]) == dir {
				roles[p.pid] = "manager"
			}
		case "kube-apiserver":
			if hasArg(p.args, "--audit-log-path=", func(v string) bool { return strings.HasPrefix(v, dir+"/") }) {
				roles[p.pid] = "kube-apiserver"
				for _, a := range p.args {
					if v, ok := strings.CutPrefix(a, "--etcd-servers="); ok {
						etcdURLs = append(etcdURLs, strings.Split(v, ",")...)
					}
				}
			}
		}
	}
	for _, p := range procs {
		if filepath.Base(p.args[0]) == "etcd" && hasArg(p.args, "--listen-client-urls=", func(v string) bool {
			return slices.ContainsFunc(strings.Split(v, ","), func(u string) bool { return slices.Contains(etcdURLs, u) })
		}) {
			roles[p.pid] = "etcd"
		}
	}
	return roles
}

// hasArg reports whether one of args is prefix followed by a value that ok accepts.
func hasArg(args []string, prefix string, ok func(string) bool) bool {
	for _, a := range args {
		if v, found := strings.CutPrefix(a, prefix); found && ok(v) {
			return true
		}
	}
	return false
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
