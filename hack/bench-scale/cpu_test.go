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

// TestRunRolesKeepsOnlyThisRun: another run's kube-apiserver and etcd on the machine (another
// test's) are not this run's, and neither is a manager built elsewhere.
func TestRunRolesKeepsOnlyThisRun(t *testing.T) {
	dir := "/tmp/bench-scale-1"
	procs := []proc{
		{1, []string{"/k8s/kube-apiserver", "--audit-log-path=/tmp/bench-scale-1/audit.log", "--etcd-servers=http://127.0.0.1:100"}},
		{2, []string{"/k8s/etcd", "--listen-client-urls=http://127.0.0.1:100", "--data-dir=/tmp/x"}},
		{3, []string{"/k8s/kube-apiserver", "--etcd-servers=http://127.0.0.1:200"}},
		{4, []string{"/k8s/etcd", "--listen-client-urls=http://127.0.0.1:200"}},
		{5, []string{"/tmp/bench-scale-1/manager", "--kubeconfig=x"}},
		{6, []string{"/elsewhere/manager"}},
	}
	got := runRoles(procs, dir)
	want := map[int]string{1: "kube-apiserver", 2: "etcd", 5: "manager"}
	if len(got) != len(want) {
		t.Fatalf("runRoles = %v, want %v", got, want)
	}
	for pid, role := range want {
		if got[pid] != role {
			t.Errorf("runRoles = %v, want %v", got, want)
		}
	}
}
