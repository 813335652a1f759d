package accessserver

import (
	"fmt"
	"runtime"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
)

// maxIndexBytesPerPasscode bounds what the access server's index costs per Passcode with a current
// and a previous hash, beyond the cached Passcode itself: its store key, and per hash a key and an
// entry. A set (map) per hash, as it was, cost about 830 bytes (400 now) (issue 25).
const maxIndexBytesPerPasscode = 500

// TestIndexCostsLittlePerPasscode: the index's own bytes per Passcode, measured in-process (heap
// after GC) over indexPasscodes Passcodes, and each is still found by both hashes and replaced or
// removed cleanly.
func TestIndexCostsLittlePerPasscode(t *testing.T) {
	const indexPasscodes = 20000
	pcs := make([]*accessv1alpha1.Passcode, indexPasscodes)
	for i := range pcs {
		pcs[i] = &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: fmt.Sprintf("user-%05d-api", i)},
			Status: accessv1alpha1.PasscodeStatus{Hash: fmt.Sprintf("sha256:%064d", i),
				Previous: &accessv1alpha1.PreviousPasscode{Hash: fmt.Sprintf("sha256:%064d", indexPasscodes+i)}}}
	}
	m := newIndex()
	before := liveHeap()
	for _, pc := range pcs {
		m.setPasscode(pc)
	}
	after := liveHeap()
	perPasscode := (int64(after) - int64(before)) / indexPasscodes
	t.Logf("index: %d bytes per Passcode with two hashes (%d Passcodes)", perPasscode, indexPasscodes)
	if perPasscode > maxIndexBytesPerPasscode {
		t.Errorf("the index costs %d bytes per Passcode, more than %d", perPasscode, maxIndexBytesPerPasscode)
	}
	for _, i := range []int{0, indexPasscodes - 1} {
		for _, hash := range []string{pcs[i].Status.Hash, pcs[i].Status.Previous.Hash} {
			if got, ok := m.only("team", hash); !ok || got != pcs[i] {
				t.Errorf("Passcode %d by %s: %v", i, hash, ok)
			}
		}
	}
	// A Passcode whose two hashes are equal is one Passcode, found once; replaced, its old hashes
	// find nothing; deleted, nothing is left.
	same := pcs[0].DeepCopy()
	same.Status.Previous.Hash = same.Status.Hash
	m.setPasscode(same)
	if got, ok := m.only("team", same.Status.Hash); !ok || got != same {
		t.Errorf("equal hashes: %v", ok)
	}
	if _, ok := m.only("team", pcs[0].Status.Previous.Hash); ok {
		t.Error("a replaced Passcode's old previous hash still finds it")
	}
	m.deletePasscode(same)
	if _, ok := m.only("team", same.Status.Hash); ok || len(m.byHash) != 2*(indexPasscodes-1) {
		t.Errorf("after the delete: found %v, %d hashes left, want %d", ok, len(m.byHash), 2*(indexPasscodes-1))
	}
	runtime.KeepAlive(pcs)
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestIndexFindsUsersByInviteHash: the index finds the one user holding an invite link's hash,
// follows a resend (a new hash) and a delete, and two users with one hash open neither.
func TestIndexFindsUsersByInviteHash(t *testing.T) {
	user := func(ns, name, hash string) *accessv1alpha1.DashboardUser {
		return &accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Status: accessv1alpha1.DashboardUserStatus{Invite: &accessv1alpha1.InviteStatus{TokenHash: hash}}}
	}
	m := newIndex()
	jane, joe := user("team-a", "jane", "sha256:a"), user("team-b", "joe", "sha256:b")
	m.setUser(jane)
	m.setUser(joe)
	m.setUser(user("team-a", "nobody", "")) // no invite: not indexed
	if got, ok := m.invited("sha256:b"); !ok || got != joe {
		t.Errorf("joe by his hash: %v", ok)
	}
	resent := user("team-a", "jane", "sha256:c")
	m.setUser(resent)
	if _, ok := m.invited("sha256:a"); ok {
		t.Error("the old link still opens after a resend")
	}
	if got, ok := m.invited("sha256:c"); !ok || got != resent {
		t.Errorf("the new link: %v", ok)
	}
	m.setUser(user("team-c", "copy", "sha256:c")) // a second user with jane's hash
	if _, ok := m.invited("sha256:c"); ok {
		t.Error("a hash two users hold opens one of them")
	}
	m.deleteUser(joe)
	if _, ok := m.invited("sha256:b"); ok || len(m.invites) != 1 || len(m.invites["sha256:c"]) != 2 {
		t.Errorf("after the delete: %v %v", ok, m.invites)
	}
}
