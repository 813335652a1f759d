package node

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/testenv"
)

// lastRelease is the release the upgrade starts from, and lastReleaseCommit the commit its tag
// names: a clone without tags still builds it. A new release changes only these two lines.
const (
	lastRelease       = "v0.3.0"
	lastReleaseCommit = "978b24bf76736e298b86caadcaf9b7aeb839ea87"
)

// TestUpgradeFromTheLastRelease installs lastRelease as it was shipped (its own config/default and
// its manager, built from the tag), invites users and issues passcodes with it, then applies this
// tree's install over it (server-side, as `make deploy` does) and waits for the new managers: no
// passcode is re-issued (Secret data and status as they were), no invite goes out again, and every
// passcode verifies through the access Service's ClusterIP throughout, every ~50 ms. The barrier
// that the new manager has reconciled everything: a user and a passcode created after the rollout
// are handled (each controller's queue gets the existing objects first, at start).
func TestUpgradeFromTheLastRelease(t *testing.T) {
	c := node(t)
	e2eImage(t, c)
	relImg := "localhost/access-operator:" + lastRelease
	release := c.releaseInstall(t, lastRelease, relImg)
	mail := c.SMTP(t)
	install(t, c, WithSMTP(release, mail.Addr))

	const ns = "upgrade"
	testNamespace(t, c, ns)
	users := []string{"ada", "bo", "cy"}
	emails := createUsers(t, c, ns, users...)
	names := createPasscodes(t, c, ns, "key", 4, users, "30d", "10d", "1h")
	before := waitIssued(t, c, ns, names)
	waitFor(t, time.Minute, "an invite to every user", func() bool { return len(invitesTo(mail, emails)) == len(users) })
	invitedBefore := c.inviteStatus(t, ns)
	v, stop := startVerifier(t, c, ns, emails)
	waitFor(t, 30*time.Second, "every passcode to verify", func() bool {
		asked, _, _ := v.counts()
		return v.asking(names) && asked >= 2*len(names)
	})
	sent := len(mail.Messages())
	t.Logf("%s: %d users invited (%d messages), %d passcodes issued", lastRelease, len(users), sent, len(names))

	old := c.ManagerPods(t)
	start := time.Now()
	if preStop(old[0]) == 0 {
		// v0.3.0's Pods stop serving at SIGTERM, a moment before kube-proxy stops sending them
		// connections (this tree's install sleeps in preStop first): refusals from them are
		// tolerated while they go, once per upgrade from such a release; a wrong answer never.
		v.tolerate(start, 10*time.Minute, lastRelease+"'s Pods stopping without a preStop sleep")
	}
	c.Apply(t, WithSMTP(c.Render(t, img), mail.Addr))
	c.WaitRollout(t)
	waitPodsGone(t, c, old)
	v.endTolerance(time.Now().Add(time.Second))
	for _, p := range c.ManagerPods(t) {
		if got := p.Spec.Containers[0].Image; got != img {
			t.Fatalf("Pod %s runs %s after the upgrade, want %s", p.Name, got, img)
		}
	}
	t.Logf("upgraded from %s to this tree in %s", lastRelease, time.Since(start).Round(time.Millisecond))

	// The barrier: the new leader handles objects created now, after what it found at start.
	after := createUsers(t, c, ns, "dee")
	createPasscodes(t, c, ns, "after", 1, []string{"dee"}, "30d", "10d", "1h")
	waitIssued(t, c, ns, []string{"after-0"})
	waitFor(t, time.Minute, "the invite of a user created after the upgrade", func() bool { return len(invitesTo(mail, after)) == 1 })
	time.Sleep(3 * time.Second) // let the verifier ask with every passcode after the barrier too
	stop()

	if got := len(mail.Messages()); got != sent+1 {
		t.Errorf("%d messages after the upgrade, want %d (the new user's invite only); to: %v", got, sent+1, recipients(mail.Messages()[sent:]))
	}
	invitedAfter := c.inviteStatus(t, ns)
	for name, was := range invitedBefore {
		if invitedAfter[name] != was {
			t.Errorf("DashboardUser %s: invite status %q after the upgrade, %q before", name, invitedAfter[name], was)
		}
	}
	unchanged(t, c, ns, before)
	v.report(t, "during the upgrade")

	// A link the release delivered still accepts: the new manager replaces the release's unmarked
	// invite key (internal/passcodesecret), and acceptance goes by the token's hash in status.
	acceptInvite(t, c, mail, ns, "ada", emails["ada"])
}

// inviteToken is the token of the invitation link in an invite email (soft line breaks of
// quoted-printable undone).
var inviteToken = regexp.MustCompile(`/invitations/([A-Z2-7]{26})`)

// acceptInvite accepts the invite delivered to email through the access Service, as the users page
// does, and checks that the DashboardUser records it.
func acceptInvite(t *testing.T, c *Cluster, mail *testenv.SMTPServer, ns, user, email string) {
	t.Helper()
	var token string
	for _, m := range invitesTo(mail, map[string]string{user: email}) {
		body := strings.ReplaceAll(string(m.Data), "=\r\n", "")
		if match := inviteToken.FindStringSubmatch(body); match != nil {
			token = match[1]
		}
	}
	if token == "" {
		t.Fatalf("no invitation link in the email to %s", email)
	}
	req, err := http.NewRequest(http.MethodPost, c.AccessURL(t)+"/invitations/"+token+"/accept", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("accepting %s's invite after the upgrade: status %d, want 200", user, resp.StatusCode)
	}
	var u accessv1alpha1.DashboardUser
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: user}, &u); err != nil {
		t.Fatal(err)
	}
	if u.Status.Invite == nil || u.Status.Invite.AcceptedAt == nil {
		t.Errorf("DashboardUser %s: the invite accepted (200) but status.invite.acceptedAt is not set", user)
	}
}

// releaseInstall builds tag's manager from its source (git archive, the Makefile's static build),
// packs it with this tree's hack/image as image and imports it, and returns tag's config/default
// rendered with that image. The archive is kept in bin/image per commit for later runs.
func (c *Cluster) releaseInstall(t *testing.T, tag, image string) []byte {
	t.Helper()
	commit := lastReleaseCommit
	if tagged, err := c.try(nil, "git", "rev-list", "-n", "1", tag); err == nil && strings.TrimSpace(tagged) != commit {
		t.Fatalf("tag %s names %s, but lastReleaseCommit is %s: update the constant with the tag", tag, strings.TrimSpace(tagged), commit)
	}
	src := t.TempDir()
	c.run(t, nil, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", commit, src)
	tar := filepath.Join(c.Root, "bin", "image", "release-"+tag+"-"+commit[:12]+".tar")
	if _, err := os.Stat(tar); err != nil {
		start := time.Now()
		bin := filepath.Join(src, "manager")
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
		build.Dir = src
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s's manager: %v\n%s", tag, err, out)
		}
		c.run(t, nil, "go", "run", "./hack/image", "-binary", bin, "-name", image, "-out", tar+".tmp")
		if err := os.Rename(tar+".tmp", tar); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%s) built and packed as %s in %s", tag, commit[:12], image, time.Since(start).Round(time.Millisecond))
	}
	c.ImportImage(t, tar)
	rendered := c.run(t, nil, c.Kubectl, "kustomize", filepath.Join(src, "config", "default"))
	return releaseImage(t, rendered, image)
}

// shippedImage is the manager's image line of a release's config/default.
var shippedImage = regexp.MustCompile(`(?m)^(\s*image: )ghcr\.io/dashboardops/access-operator:\S+$`)

// releaseImage sets the manager's image in a release's rendered install (it must name exactly one).
func releaseImage(t *testing.T, rendered, image string) []byte {
	t.Helper()
	if n := len(shippedImage.FindAllString(rendered, -1)); n != 1 {
		t.Fatalf("the release's install names the manager image %d times, want once", n)
	}
	return []byte(shippedImage.ReplaceAllString(rendered, "${1}"+image))
}

// invitesTo are the messages sent to any of emails' addresses.
func invitesTo(mail *testenv.SMTPServer, emails map[string]string) []testenv.Email {
	var out []testenv.Email
	for _, m := range mail.Messages() {
		for _, e := range emails {
			if len(m.To) == 1 && m.To[0] == e {
				out = append(out, m)
			}
		}
	}
	return out
}

// recipients are the messages' To addresses.
func recipients(msgs []testenv.Email) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, strings.Join(m.To, ","))
	}
	return out
}

// inviteStatus is each DashboardUser's phase and invite status as text (what a resent invite changes).
func (c *Cluster) inviteStatus(t *testing.T, ns string) map[string]string {
	t.Helper()
	var users accessv1alpha1.DashboardUserList
	if err := c.Client.List(context.Background(), &users, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range users.Items {
		s := string(u.Status.Phase)
		if inv := u.Status.Invite; inv != nil {
			s += fmt.Sprintf(" sent %s number %d attempts %d token %t accepted %s", timeOf(inv.SentAt).Format(time.RFC3339),
				inv.Number, inv.Attempts, inv.TokenHash != "", timeOf(inv.AcceptedAt).Format(time.RFC3339))
		}
		out[u.Name] = s
	}
	return out
}
