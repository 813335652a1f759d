package controllers_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
)

var pokes atomic.Int32

// newNamespace makes a namespace for one test: one dashboard project.
func newNamespace() string {
	ns, err := op.NewNamespace(ctx)
	Expect(err).NotTo(HaveOccurred())
	return ns
}

func createUser(ns, name string) *accessv1alpha1.DashboardUser {
	u, err := op.CreateUser(ctx, ns, name)
	Expect(err).NotTo(HaveOccurred())
	return u
}

func createPasscode(ns, name, user, tenure string, mods ...func(*accessv1alpha1.Passcode)) *accessv1alpha1.Passcode {
	pc, err := op.CreatePasscode(ctx, ns, name, user, tenure, mods...)
	Expect(err).NotTo(HaveOccurred())
	return pc
}

// get reads an object straight from the API server.
func get[T any, P interface {
	*T
	client.Object
}](g Gomega, ns, name string) P {
	obj := P(new(T))
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)).To(Succeed())
	return obj
}

// waitUntil waits until the object satisfies match, and returns it.
func waitUntil[T any, P interface {
	*T
	client.Object
}](ns, name string, match func(Gomega, P)) P {
	var obj P
	Eventually(func(g Gomega) {
		obj = get[T, P](g, ns, name)
		match(g, obj)
	}).WithTimeout(15 * time.Second).Should(Succeed())
	return obj
}

func getPasscode(g Gomega, ns, name string) *accessv1alpha1.Passcode {
	return get[accessv1alpha1.Passcode](g, ns, name)
}

// waitForPasscode waits until the Passcode satisfies match, and returns it.
func waitForPasscode(ns, name string, match func(Gomega, *accessv1alpha1.Passcode)) *accessv1alpha1.Passcode {
	return waitUntil[accessv1alpha1.Passcode](ns, name, match)
}

func inPhase(phase accessv1alpha1.PasscodePhase, revision int64) func(Gomega, *accessv1alpha1.Passcode) {
	return func(g Gomega, pc *accessv1alpha1.Passcode) {
		g.Expect(pc.Status.Phase).To(Equal(phase))
		g.Expect(pc.Status.Revision).To(Equal(revision))
		g.Expect(pc.Status.ObservedGeneration).To(Equal(pc.Generation))
	}
}

// seenPasscodes collects every passcode the tests read from a Secret, for the leak check.
var seenPasscodes sync.Map

// secretOf reads a Passcode's Secret from the API server and remembers its passcode.
func secretOf(g Gomega, ns, name string) *corev1.Secret {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s)).To(Succeed())
	if v := string(s.Data[passcodesecret.KeyPasscode]); v != "" {
		seenPasscodes.Store(v, true)
	}
	return s
}

// poke changes an annotation so the controller looks at the object again: a fake clock fires no
// workqueue timer, so after moving it the tests touch the object as a person or a resync would.
func poke(obj client.Object) {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"test.dashboardops.io/poke":"%d"}}}`, pokes.Add(1)))
	Expect(k8sClient.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// requestReset sets the reset annotation, as `kubectl dashboard passcode reset` or a Git commit would.
func requestReset(obj client.Object, value string) {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, accessv1alpha1.ResetRequestedAtAnnotation, value))
	Expect(k8sClient.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// warningsAbout lists the Warning Events about the object of kind named name: reason and note.
func warningsAbout(g Gomega, kind, ns, name string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == kind && e.Type == "Warning" {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// eventReasons lists the reasons of the Events about an object, oldest first.
func eventReasons(g Gomega, ns, name string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func readyReason(pc *accessv1alpha1.Passcode) string {
	c := apimeta.FindStatusCondition(pc.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// update reads obj fresh, applies change and writes it, retrying on conflicts with the
// controllers' own writes (as kubectl edit would make a person do).
func update[T client.Object](obj T, change func(T)) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}

type metav1OwnerRef = metav1.OwnerReference

func ownerRefs(o client.Object) []metav1.OwnerReference { return o.GetOwnerReferences() }

func metaName(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
