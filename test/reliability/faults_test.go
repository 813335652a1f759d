package reliability

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/passcode"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// apiFaults are the faults the manager's client meets in this spec: one write in ten conflicts,
// one in fifty fails, one in fifty is carried out but reported failed, every request is slowed,
// and -read-errors of the reads (gets and lists, never watches) fail.
func apiFaults() testenv.Faults {
	return testenv.Faults{Conflict: 0.10, InternalError: 0.02, LostResponse: 0.02, ReadError: *readErrors, MaxLatency: 20 * time.Millisecond}
}

const (
	faultUsers  = 20
	faultGrants = 40
	// The two reset annotation values, applied one after the other.
	resetOne = "2026-03-01T00:00:00Z"
	resetTwo = "2026-03-02T00:00:00Z"
	// jump is how far the clock moves at the end: past the renewal time of every Automatic 30d
	// passcode (20 days after issue) and the expiry of every Manual 7d one, before the expiry of
	// the Manual 30d ones and of the invite links (30 days).
	jump = 21 * 24 * time.Hour
)

// grant is one Passcode of the spec and what is done to it.
type grant struct {
	name, user  string
	tenure      string
	automatic   bool
	grace       string
	resets      []string // reset annotation values, in order
	revoked     bool     // spec.revoked is set
	userRevoked bool     // its user's access is revoked
}

func faultPlan() []grant {
	plan := make([]grant, 0, faultGrants)
	for i := range faultGrants {
		g := grant{name: fmt.Sprintf("pc-%02d", i), user: fmt.Sprintf("user-%02d", i/2), tenure: "30d"}
		switch i % 4 {
		case 1:
			g.automatic, g.grace = true, "1h"
		case 2:
			g.automatic = true
		case 3:
			g.tenure = "7d"
		}
		if i%5 == 0 {
			g.resets = append(g.resets, resetOne)
		}
		if i%10 == 0 {
			g.resets = append(g.resets, resetTwo)
		}
		g.revoked = i%8 == 6
		g.userRevoked = i/2 == faultUsers-1
		plan = append(plan, g)
	}
	return plan
}

func (g grant) ended() bool { return g.revoked || g.userRevoked }

// wantPhase is the phase after the clock jump.
func (g grant) wantPhase() accessv1alpha1.PasscodePhase {
	switch {
	case g.ended():
		return accessv1alpha1.PasscodeRevoked
	case !g.automatic && g.tenure == "7d":
		return accessv1alpha1.PasscodeExpired
	}
	return accessv1alpha1.PasscodeActive
}

// rotations is how many automatic rotations the clock jump causes.
func (g grant) rotations() int64 {
	if g.automatic && !g.ended() {
		return 1
	}
	return 0
}

// wantRevision is 1 (the first issue) + the resets asked + the rotations caused: anything more is
// a passcode regenerated because of a transient error.
func (g grant) wantRevision() int64 { return 1 + int64(len(g.resets)) + g.rotations() }

// inertEdit is a spec edit that changes nothing the controller does with g's Passcode now: a
// longer tenure applies from the next issue; an Automatic one's renewBefore is set to the default
// it already has (a third of the tenure), so its renewal time stays.
func (g grant) inertEdit() string {
	if g.automatic {
		return `{"rotation":{"renewBefore":"10d"}}` // 30d / 3
	}
	return map[string]string{"30d": `{"tenure":"31d"}`, "7d": `{"tenure":"8d"}`}[g.tenure]
}

func (g grant) create(ns string) {
	pc := &accessv1alpha1.Passcode{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: g.name},
		Spec:       accessv1alpha1.PasscodeSpec{UserRef: accessv1alpha1.UserReference{Name: g.user}, Tenure: g.tenure},
	}
	if g.automatic {
		pc.Spec.Rotation = &accessv1alpha1.RotationSpec{Policy: accessv1alpha1.RotationAutomatic, GracePeriod: g.grace}
	}
	Expect(op.Client.Create(ctx, pc)).To(Succeed())
}

func passcodeRef(ns, name string) *accessv1alpha1.Passcode {
	return &accessv1alpha1.Passcode{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// waitForPasscodes waits up to a minute until cond (which says what is still missing, or "")
// holds for every Passcode of the plan.
func waitForPasscodes(ns string, plan []grant, cond func(grant, *accessv1alpha1.Passcode) string) {
	byName := map[string]grant{}
	for _, g := range plan {
		byName[g.name] = g
	}
	Eventually(func(g Gomega) {
		list := &accessv1alpha1.PasscodeList{}
		g.Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(len(plan)))
		var waiting []string
		for i := range list.Items {
			pc := &list.Items[i]
			if w := cond(byName[pc.Name], pc); w != "" {
				waiting = append(waiting, pc.Name+": "+w)
			}
		}
		g.Expect(waiting).To(BeEmpty(), "Passcodes not there yet")
	}).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
}

// settled says what keeps a Passcode from being settled in phase: the manager is done with it
// (no retry pending, this generation observed).
func settled(pc *accessv1alpha1.Passcode, phase accessv1alpha1.PasscodePhase) string {
	switch {
	case pc.Status.Phase != phase:
		return fmt.Sprintf("phase %q, want %s", pc.Status.Phase, phase)
	case pc.Status.Failures != 0 || pc.Status.NextRetryAt != nil:
		return fmt.Sprintf("retrying (%d failures)", pc.Status.Failures)
	case pc.Status.ObservedGeneration != pc.Generation:
		return fmt.Sprintf("generation %d not observed yet", pc.Generation)
	}
	return ""
}

var _ = Describe("The manager under API faults", func() {
	It("converges without regenerating a passcode or making a second invite link", func() {
		faults.Reset() // the same seed injects the same faults whichever spec ran before
		faults.Set(apiFaults())
		DeferCleanup(func() { faults.Set(testenv.Faults{}) })
		DeferCleanup(startTicking(time.Second, 100*time.Millisecond))
		ns, err := op.NewNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())
		secrets := watchSecrets(ns)
		plan := faultPlan()

		By(fmt.Sprintf("creating %d users and %d Passcodes with faults injected (seed %d)", faultUsers, faultGrants, *faultSeed))
		for u := range faultUsers {
			createUser(ns, fmt.Sprintf("user-%02d", u))
		}
		for _, g := range plan {
			g.create(ns)
		}
		waitForPasscodes(ns, plan, func(_ grant, pc *accessv1alpha1.Passcode) string {
			return settled(pc, accessv1alpha1.PasscodeActive)
		})
		Eventually(func(g Gomega) {
			list := &accessv1alpha1.DashboardUserList{}
			g.Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(faultUsers))
			for _, u := range list.Items {
				g.Expect(u.Status.Phase).To(Equal(accessv1alpha1.UserInvited), "user %s", u.Name)
			}
		}).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())

		for round, value := range []string{resetOne, resetTwo} {
			By(fmt.Sprintf("asking for reset %d on some Passcodes", round+1))
			for _, g := range plan {
				if len(g.resets) > round {
					requestReset(passcodeRef(ns, g.name), value)
				}
			}
			waitForPasscodes(ns, plan, func(g grant, pc *accessv1alpha1.Passcode) string {
				if len(g.resets) > round && pc.Status.LastResetRequestedAt != value {
					return "reset " + value + " not handled yet"
				}
				return settled(pc, accessv1alpha1.PasscodeActive)
			})
		}

		By("revoking some Passcodes and one user's access")
		for _, g := range plan {
			if g.revoked {
				mergePatch(passcodeRef(ns, g.name), `{"spec":{"revoked":true}}`)
			}
		}
		mergePatch(&accessv1alpha1.DashboardUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("user-%02d", faultUsers-1)}},
			`{"spec":{"access":"Revoked"}}`)
		waitForPasscodes(ns, plan, func(g grant, pc *accessv1alpha1.Passcode) string {
			if g.ended() {
				return settled(pc, accessv1alpha1.PasscodeRevoked)
			}
			return settled(pc, accessv1alpha1.PasscodeActive)
		})

		By("moving the clock past the renewal of the Automatic Passcodes and the expiry of the 7d ones")
		op.Clock.Step(jump)
		for _, g := range plan {
			poke(passcodeRef(ns, g.name))
		}
		waitForPasscodes(ns, plan, func(g grant, pc *accessv1alpha1.Passcode) string {
			if w := settled(pc, g.wantPhase()); w != "" {
				return w
			}
			if g.automatic && pc.Status.Phase == accessv1alpha1.PasscodeActive &&
				(pc.Status.RenewalTime == nil || !pc.Status.RenewalTime.After(op.Clock.Now())) {
				return "not rotated yet"
			}
			return ""
		})
		// The barrier for anything the manager would still do (a late repair, a second invite): an
		// edit of every Passcode and user that changes nothing, then its generation observed.
		edits := map[client.Object]string{}
		for _, g := range plan {
			edits[passcodeRef(ns, g.name)] = g.inertEdit()
		}
		for u := range faultUsers {
			obj, patch := userBarrier(ns, fmt.Sprintf("user-%02d", u))
			edits[obj] = patch
		}
		reconciledAfter(edits)

		By("checking every Passcode, Secret and user")
		injected := faults.Counts()
		byRequest := strings.Join(faults.Breakdown(), "\n  ")
		AddReportEntry("API faults injected", injected.String()+"\n  "+byRequest)
		GinkgoWriter.Printf("API faults injected: %s\n  %s\n", injected, byRequest)
		Expect(injected.Conflicts+injected.InternalErrors+injected.LostResponses).To(BeNumerically(">", 0),
			"no fault was injected: the spec proved nothing")

		var problems []string
		for _, g := range plan {
			problems = append(problems, checkGrant(ns, g, secrets)...)
		}
		problems = append(problems, checkUsers(ns)...)
		if n := counter(metrics.PasscodeRepairs, ns); n != 0 {
			problems = append(problems, fmt.Sprintf("access_operator_passcode_repairs_total{namespace=%q} is %v, want 0: "+
				"a passcode was re-issued as a repair although nobody touched a Secret", ns, n))
		}
		var rotations, resets int64
		for _, g := range plan {
			rotations += g.rotations()
			resets += int64(len(g.resets))
		}
		info := fmt.Sprintf("counters: %v rotations (want %d), %v resets (want %d), %v invites sent (want %d)",
			counter(metrics.PasscodeRotations, ns), rotations, counter(metrics.PasscodeResets, ns), resets,
			counter(metrics.InviteDeliveries, ns, "sent"), faultUsers)
		GinkgoWriter.Println(info)
		Expect(problems).To(BeEmpty(), "%d problems after converging under API faults (%s; seed %d)\n%s\nfaults by request:\n  %s",
			len(problems), injected, *faultSeed, info, byRequest)
	})
})

// checkGrant lists what is wrong with one Passcode and its Secret.
func checkGrant(ns string, g grant, secrets *secretWatch) []string {
	pc := &accessv1alpha1.Passcode{}
	Expect(op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: g.name}, pc)).To(Succeed())
	var out []string
	bad := func(format string, args ...any) { out = append(out, g.name+": "+fmt.Sprintf(format, args...)) }
	if pc.Status.Revision != g.wantRevision() {
		bad("status.revision is %d, want %d (1 issue + %d resets + %d rotations): %d passcode(s) regenerated without cause; "+
			"Events: %s", pc.Status.Revision, g.wantRevision(), len(g.resets), g.rotations(), pc.Status.Revision-g.wantRevision(),
			strings.Join(eventReasons(ns, g.name), ", "))
	}
	if n := secrets.issued(g.name); n != int(g.wantRevision()) {
		bad("%d different passcodes were written to its Secret, want %d (one per revision, status.revision is %d): "+
			"a passcode was replaced without being counted; Events: %s", n, g.wantRevision(), pc.Status.Revision,
			strings.Join(eventReasons(ns, g.name), ", "))
	}
	if pc.Status.Phase != g.wantPhase() {
		bad("phase %q, want %s", pc.Status.Phase, g.wantPhase())
	}
	ready := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	wantReady, wantReason := metav1.ConditionTrue, ""
	switch g.wantPhase() {
	case accessv1alpha1.PasscodeExpired:
		wantReady, wantReason = metav1.ConditionFalse, accessv1alpha1.ReasonExpired
	case accessv1alpha1.PasscodeRevoked:
		wantReady, wantReason = metav1.ConditionFalse, accessv1alpha1.ReasonRevoked
	}
	switch {
	case ready == nil:
		bad("no Ready condition")
	case ready.Status != wantReady || (wantReason != "" && ready.Reason != wantReason):
		bad("Ready is %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, wantReady, wantReason)
	}
	if c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReconciling); c != nil {
		bad("still Reconciling: %s", c.Message)
	}

	secret := &corev1.Secret{}
	if err := op.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: g.name}, secret); err != nil {
		bad("reading its Secret: %v", err)
		return out
	}
	value, has := secret.Data[passcodesecret.KeyPasscode]
	switch {
	case g.wantPhase() == accessv1alpha1.PasscodeActive && !passcode.Matches(string(value), pc.Status.Hash):
		bad("the Secret's passcode does not match status.hash (Secret revision %s, status revision %d)",
			secret.Annotations[passcodesecret.RevisionAnnotation], pc.Status.Revision)
	case g.wantPhase() != accessv1alpha1.PasscodeActive && has:
		bad("the Secret still holds a passcode although the Passcode is %s", pc.Status.Phase)
	}
	if rev := secret.Annotations[passcodesecret.RevisionAnnotation]; rev != fmt.Sprint(pc.Status.Revision) {
		bad("the Secret is at revision %s, the status at %d", rev, pc.Status.Revision)
	}
	return out
}

// checkUsers lists what is wrong with the users: each was invited exactly once (one link made,
// one delivery), the last one's access is revoked.
func checkUsers(ns string) []string {
	list := &accessv1alpha1.DashboardUserList{}
	Expect(op.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, u := range list.Items {
		bad := func(format string, args ...any) { out = append(out, u.Name+": "+fmt.Sprintf(format, args...)) }
		want := accessv1alpha1.UserInvited
		if u.Name == fmt.Sprintf("user-%02d", faultUsers-1) {
			want = accessv1alpha1.UserRevoked
		}
		if u.Status.Phase != want {
			bad("phase %q, want %s", u.Status.Phase, want)
		}
		switch inv := u.Status.Invite; {
		case inv == nil:
			bad("no invite status")
		case inv.Number != 1:
			bad("status.invite.number is %d, want 1: %d invite link(s) made and sent without being asked for; Events: %s",
				inv.Number, inv.Number-1, strings.Join(eventReasons(ns, u.Name), ", "))
		}
		if c := apimeta.FindStatusCondition(u.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			bad("not Ready: %v", c)
		}
	}
	return out
}
