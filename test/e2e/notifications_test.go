package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// TestLifecycleNotificationsAcrossManagerRestarts runs two built managers on one real control
// plane: one with the webhook notifier and every notification type (namespace "hooks"), one with
// the SMTP notifier and the default types, passcode.expiring and passcode.expired (namespace
// "mail"), each delivering to a real receiver: a webhook endpoint that verifies signatures, and an
// SMTP server. 1-minute Manual and Automatic passcodes expire and rotate while both managers are
// SIGKILLed twice, the second time for longer than the moment a passcode becomes "expiring" and
// another rotates. Every expected notification must arrive exactly once (counted by idempotency
// key over raw deliveries: no receiver dedupe needed), and none may carry a passcode or its hash.
func TestLifecycleNotificationsAcrossManagerRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cp := startControlPlane(t, dir)
	c := cp.Client
	ctx := context.Background()
	createNamespaces(t, c, "hooks", "mail")

	recv, err := testenv.NewWebhookReceiver(dir, testenv.WebhookReceiverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	mailServer, err := testenv.StartSMTPServer()
	if err != nil {
		t.Fatal(err)
	}
	defer mailServer.Close()
	hooks := startManagerProcess(t, dir, cp, "hooks-manager", "--watch-namespaces=hooks",
		"--notifier=webhook", "--webhook-url="+recv.URL, "--webhook-secret-file="+recv.SecretFile,
		"--notify-events=passcode.issued,passcode.rotated,passcode.expiring,passcode.expired,passcode.revoked,"+
			"user.role-changed,user.access-revoked")
	mails := startManagerProcess(t, dir, cp, "mail-manager", "--watch-namespaces=mail",
		"--notifier=smtp", "--smtp-address="+mailServer.Addr, "--smtp-from=Dashboard <dashboard@example.com>", "--smtp-tls=none")

	user := func(ns, name string) {
		u := &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, name),
			Spec: accessv1alpha1.DashboardUserSpec{Email: name + "@example.com", Role: accessv1alpha1.RoleMember}}
		if err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	passcodeFor := func(ns, name, userName string, policy accessv1alpha1.RotationPolicy) {
		pc := &accessv1alpha1.Passcode{ObjectMeta: metaName(ns, name), Spec: accessv1alpha1.PasscodeSpec{
			UserRef: accessv1alpha1.UserReference{Name: userName}, Tenure: "1m",
			Rotation: &accessv1alpha1.RotationSpec{Policy: policy}}}
		if err := c.Create(ctx, pc); err != nil {
			t.Fatal(err)
		}
	}
	user("hooks", "ada")
	user("hooks", "bob")
	user("mail", "cyd")
	passcodeFor("hooks", "ada-manual", "ada", accessv1alpha1.RotationManual)
	passcodeFor("hooks", "ada-auto", "ada", accessv1alpha1.RotationAutomatic)
	passcodeFor("hooks", "bob-api", "bob", accessv1alpha1.RotationManual)
	passcodeFor("mail", "cyd-api", "cyd", accessv1alpha1.RotationManual)

	// What no notification may contain: every passcode issued and its hash.
	var forbidden []string
	remember := func(ns, name string) *accessv1alpha1.Passcode {
		pc := &accessv1alpha1.Passcode{}
		waitFor(t, 30*time.Second, name+" to be Active", func() bool {
			return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pc) == nil && pc.Status.Phase == accessv1alpha1.PasscodeActive
		})
		s := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: passcodesecret.Name(pc)}, s); err != nil {
			t.Fatal(err)
		}
		forbidden = append(forbidden, string(s.Data[passcodesecret.KeyPasscode]), pc.Status.Hash)
		return pc
	}
	manual := remember("hooks", "ada-manual")
	remember("hooks", "ada-auto")
	remember("hooks", "bob-api")
	cyd := remember("mail", "cyd-api")

	// A role change and a revoked access, delivered and recorded before the first kill.
	waitFor(t, 30*time.Second, "ada's role to be observed", func() bool {
		u := &accessv1alpha1.DashboardUser{}
		return c.Get(ctx, types.NamespacedName{Namespace: "hooks", Name: "ada"}, u) == nil && u.Status.ObservedRole == accessv1alpha1.RoleMember
	})
	patchUser(t, c, "hooks", "ada", `{"spec":{"role":"Admin"}}`)
	patchUser(t, c, "hooks", "bob", `{"spec":{"access":"Revoked"}}`)
	early := []string{"passcode.issued ada-manual 1", "passcode.issued ada-auto 1", "passcode.issued bob-api 1",
		"user.role-changed ada 0", "user.access-revoked bob 0", "passcode.revoked bob-api 1"}
	waitFor(t, 30*time.Second, "the first notifications and their records", func() bool {
		return containsAll(received(recv), early) && recorded(ctx, c, recv)
	})
	killAndRestart(t, hooks, 0)
	killAndRestart(t, mails, 0)

	// Down across the moment ada-manual and cyd-api become expiring (40 s after issue) and
	// ada-auto rotates: the restarted processes find it all due and send it once.
	time.Sleep(time.Until(manual.Status.IssuedAt.Add(30 * time.Second)))
	waitFor(t, 5*time.Second, "every delivery to be recorded", func() bool { return recorded(ctx, c, recv) })
	for _, m := range []*testenv.ManagerProcess{hooks, mails} {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// The premise: both were down before anything fell due (expiring and the rotation at 40 s).
	if late := time.Since(manual.Status.IssuedAt.Add(40 * time.Second)); late >= 0 {
		t.Fatalf("premise: the managers were killed %v after ada-manual became expiring, not across it", late.Round(time.Millisecond))
	}
	time.Sleep(time.Until(manual.Status.IssuedAt.Add(43 * time.Second)))
	killAndRestart(t, hooks, -1)
	killAndRestart(t, mails, -1)

	want := append(slices.Clone(early), "passcode.expiring ada-manual 1", "passcode.rotated ada-auto 2", "passcode.expired ada-manual 1")
	waitFor(t, 40*time.Second, "ada-manual's expiry to be told", func() bool { return containsAll(received(recv), want) })
	waitFor(t, 20*time.Second, "cyd's two emails", func() bool { return len(lifecycleEmails(mailServer)) >= 2 })
	// The barrier for a duplicate: every delivery recorded in status (what is due is derived from
	// status alone), then one more event on a Passcode, delivered after anything the restarted
	// process still had queued for it; its revocation also keeps ada-auto from rotating again.
	waitFor(t, 20*time.Second, "every delivery to be recorded", func() bool { return recorded(ctx, c, recv) })
	auto := &accessv1alpha1.Passcode{ObjectMeta: metaName("hooks", "ada-auto")}
	if err := c.Patch(ctx, auto, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`))); err != nil {
		t.Fatal(err)
	}
	want = append(want, "passcode.revoked ada-auto 2")
	waitFor(t, 20*time.Second, "ada-auto's revocation to be told and recorded", func() bool {
		return containsAll(received(recv), want) && recorded(ctx, c, recv)
	})

	// Exactly once each, by raw deliveries; nothing unexpected.
	got := received(recv)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("webhook notifications\n got %q\nwant %q", got, want)
	}
	byKey := map[string]int{}
	for _, ev := range recv.Events() {
		byKey[ev.IdempotencyKey]++
		for _, f := range forbidden {
			if f != "" && strings.Contains(ev.Body, f) {
				t.Errorf("%s carries a passcode or its hash", ev.Type)
			}
		}
	}
	for k, n := range byKey {
		if n != 1 {
			t.Errorf("key %s delivered %d times", k, n)
		}
	}
	if r := recv.Rejected(); len(r) > 0 {
		t.Errorf("the receiver refused %v", r)
	}

	emails := lifecycleEmails(mailServer)
	emailTypes := make([]string, 0, len(emails))
	ids := map[string]bool{}
	for _, e := range emails {
		emailTypes = append(emailTypes, e.Header.Get("X-Dashboard-Event-Type"))
		ids[e.Header.Get("Message-ID")] = true
		if len(e.To) != 1 || e.To[0] != "cyd@example.com" {
			t.Errorf("email to %v", e.To)
		}
		for _, f := range forbidden {
			if f != "" && strings.Contains(string(e.Data), f) {
				t.Errorf("the %s email carries a passcode or its hash", e.Header.Get("X-Dashboard-Event-Type"))
			}
		}
		if !strings.Contains(string(e.Data), "cyd-api") {
			t.Errorf("the email does not name the passcode:\n%s", e.Data)
		}
	}
	if !slices.Equal(emailTypes, []string{"passcode.expiring", "passcode.expired"}) || len(ids) != 2 {
		t.Errorf("emails %v with %d Message-IDs; want expiring then expired, once each", emailTypes, len(ids))
	}
	final := &accessv1alpha1.Passcode{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cyd), final); err != nil || final.Status.Phase != accessv1alpha1.PasscodeExpired {
		t.Errorf("cyd-api: %v %s", err, final.Status.Phase)
	}
}

// received lists the webhook's lifecycle notifications as "type name revision" (the user's name
// for user events), one entry per raw delivery.
func received(recv *testenv.WebhookReceiver) []string {
	evs := recv.Events()
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		name := ev.PasscodeName
		if name == "" {
			name = ev.User
		}
		out = append(out, fmt.Sprintf("%s %s %d", ev.Type, name, ev.Revision))
	}
	return out
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// recorded reports whether every notification the receiver got for the hooks namespace is
// recorded in status: no user outbox holds one, and each Passcode lists each type delivered for
// its current revision (a new revision's record replaces the last one's). Killing the manager
// before that would repeat a delivery by design (the one window of the guarantee), so the test
// waits for it.
func recorded(ctx context.Context, c client.Client, recv *testenv.WebhookReceiver) bool {
	users := &accessv1alpha1.DashboardUserList{}
	if err := c.List(ctx, users, client.InNamespace("hooks")); err != nil {
		return false
	}
	for _, u := range users.Items {
		if len(u.Status.PendingNotifications) > 0 {
			return false
		}
	}
	pcs := &accessv1alpha1.PasscodeList{}
	if err := c.List(ctx, pcs, client.InNamespace("hooks")); err != nil {
		return false
	}
	recordedTypes := map[string]bool{} // "type name revision"
	revisions := map[string]int64{}
	for _, pc := range pcs.Items {
		revisions[pc.Name] = pc.Status.Revision
		if n := pc.Status.Notifications; n != nil {
			for _, typ := range n.Sent {
				recordedTypes[fmt.Sprintf("%s %s %d", typ, pc.Name, n.Revision)] = true
			}
		}
	}
	for _, ev := range recv.Events() {
		if ev.PasscodeName == "" || ev.Revision < revisions[ev.PasscodeName] {
			continue // status records the current revision's notifications only
		}
		if !recordedTypes[fmt.Sprintf("%s %s %d", ev.Type, ev.PasscodeName, ev.Revision)] {
			return false
		}
	}
	return true
}

// lifecycleEmails are the SMTP server's messages that are lifecycle notifications (not invites).
func lifecycleEmails(s *testenv.SMTPServer) []testenv.Email {
	var out []testenv.Email
	for _, e := range s.Messages() {
		if e.Header.Get("X-Dashboard-Event-Type") != "" {
			out = append(out, e)
		}
	}
	return out
}

func patchUser(t *testing.T, c client.Client, ns, name, patch string) {
	t.Helper()
	u := &accessv1alpha1.DashboardUser{ObjectMeta: metaName(ns, name)}
	if err := c.Patch(context.Background(), u, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// killAndRestart SIGKILLs m (unless it is already down: wait < 0) and starts it again.
func killAndRestart(t *testing.T, m *testenv.ManagerProcess, wait time.Duration) {
	t.Helper()
	if wait >= 0 {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, m.Tail(40))
	}
}

func metaName(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
