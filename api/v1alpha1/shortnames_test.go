package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// kubectl resolves a short name through the discovery RESTMapper, where built-in kinds win: a short
// name that a built-in kind also uses (pc is PriorityClass's) never reaches our kind.
var _ = Describe("Short names", func() {
	It("resolve to our kinds on a real API server, with no built-in kind sharing them", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(testEnv.Config)
		Expect(err).NotTo(HaveOccurred())
		mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dc, nil)
		for short, plural := range map[string]string{"du": "dashboardusers", "dpc": "passcodes", "dr": "dashboardroles", "dpol": "dashboardpolicies"} {
			gvr, err := mapper.ResourceFor(schemaResource(short))
			Expect(err).NotTo(HaveOccurred(), short)
			Expect(gvr.Group).To(Equal("access.dashboardops.io"), "kubectl get %s must mean %s", short, plural)
			Expect(gvr.Resource).To(Equal(plural))
		}

		_, lists, err := dc.ServerGroupsAndResources()
		Expect(err).NotTo(HaveOccurred())
		for _, l := range lists {
			if l.GroupVersion == "access.dashboardops.io/v1alpha1" {
				continue
			}
			for _, r := range l.APIResources {
				Expect(r.ShortNames).NotTo(ContainElements("du", "dpc", "dr", "dpol"), "%s %s shares a short name with our kinds", l.GroupVersion, r.Name)
			}
		}
	})
})

func schemaResource(name string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Resource: name}
}
