package accessserver_test

import (
	"fmt"
	"sync/atomic"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var pokes atomic.Int32

// poke touches an annotation so the controller looks again after the fake clock moved.
func poke(obj client.Object) {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"test.dashboardops.io/poke":"%d"}}}`, pokes.Add(1)))
	Expect(op.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

func metaName(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
