package node

import (
	"context"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The second build the rolling update goes to: this tree again, linked with another version, so
// another image (digest) under another name.
const nextImg = "localhost/access-operator:e2e-next"

// TestRollingUpdateToANewImage installs this tree's image, issues passcodes, then applies the
// install with a second build (`make render IMG=...`), as an upgrade is rolled out: the Deployment
// replaces its Pods one at a time (the PodDisruptionBudget keeps one), no passcode changes (Secret
// data and status as they were) and POST /v1/verify through the access Service's ClusterIP answers
// correctly throughout, every ~50 ms.
func TestRollingUpdateToANewImage(t *testing.T) {
	c := node(t)
	e2eImage(t, c)
	start := time.Now()
	c.Image(t, nextImg, "v0.0.1-e2e", "e2e-next.tar")
	t.Logf("image %s built and imported in %s", nextImg, time.Since(start).Round(time.Millisecond))
	mail := c.SMTP(t)
	install(t, c, WithSMTP(c.Render(t, img), mail.Addr))

	var pdb policyv1.PodDisruptionBudget
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "access-operator-controller-manager"}, &pdb); err != nil {
		t.Fatalf("the install's PodDisruptionBudget: %v", err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}

	const ns = "rollout"
	testNamespace(t, c, ns)
	users := []string{"ada", "bo"}
	emails := createUsers(t, c, ns, users...)
	names := createPasscodes(t, c, ns, "key", 4, users, "30d", "10d", "1h")
	before := waitIssued(t, c, ns, names)
	v, stop := startVerifier(t, c, ns, emails)
	waitFor(t, 30*time.Second, "the verifier to ask with every passcode", func() bool { return v.asking(names) })
	old := c.ManagerPods(t)

	start = time.Now()
	c.Apply(t, WithSMTP(c.Render(t, nextImg), mail.Addr))
	c.WaitRollout(t)
	t.Logf("rolled out to %s in %s", nextImg, time.Since(start).Round(time.Millisecond))
	// Ask until the old Pods are gone, and a little longer.
	waitPodsGone(t, c, old)
	time.Sleep(2 * time.Second)
	stop()

	pods := c.ManagerPods(t)
	if len(pods) != 2 {
		t.Errorf("want 2 manager Pods after the rollout, got %d", len(pods))
	}
	for _, p := range pods {
		for _, o := range old {
			if p.Name == o.Name {
				t.Errorf("Pod %s of the old image was not replaced", p.Name)
			}
		}
		if got := p.Spec.Containers[0].Image; got != nextImg {
			t.Errorf("Pod %s runs %s, want %s", p.Name, got, nextImg)
		}
	}
	v.report(t, "during the rollout")
	unchanged(t, c, ns, before)
}
