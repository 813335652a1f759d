package v1alpha1_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// spec.secretTemplate ends up on a Secret: the CRD refuses at apply exactly the labels and
// annotations the API server would refuse on that Secret, so a Passcode never sits unready with a
// Secret that can never be written.
var _ = Describe("secretTemplate labels and annotations", func() {
	values := []string{"", "a", "analytics", "a-b_c.d", "A1", strings.Repeat("x", 63), strings.Repeat("x", 64), "a b", "-a", "a-", "_a",
		"a_", ".a", "a.", "a/b", "a\nb", "é", "a:b", "a@b"}
	keys := []string{"a", "team", "example.com/team", "a.b-c_d", "A", strings.Repeat("k", 63), strings.Repeat("k", 64), "bad key", "a/b/c", "",
		"/a", "a/", "Example.com/a", "-a", "a-", "ex_ample.com/a", strings.Repeat("p", 253) + "/a", strings.Repeat("p", 254) + "/a", "é"}

	secretAccepts := func(labels, annotations map[string]string) bool {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: namespace, Labels: labels, Annotations: annotations}}
		return k8sClient.Create(ctx, s, client.DryRunAll) == nil
	}
	passcodeAccepts := func(field string, m map[string]string) bool {
		b, err := json.Marshal(map[string]any{field: m}) // JSON is YAML on one line, any value escaped
		Expect(err).NotTo(HaveOccurred())
		return dryRunCreate(okPasscode("secretTemplate: "+string(b))) == nil
	}

	It("refuses exactly the label values a Secret refuses", func() {
		for _, v := range values {
			m := map[string]string{"team": v}
			Expect(passcodeAccepts("labels", m)).To(Equal(secretAccepts(m, nil)), "label value %q", v)
		}
	})
	It("refuses exactly the label keys a Secret refuses", func() {
		for _, k := range keys {
			m := map[string]string{k: "x"}
			Expect(passcodeAccepts("labels", m)).To(Equal(secretAccepts(m, nil)), "label key %q", k)
		}
	})
	It("refuses exactly the annotation keys a Secret refuses", func() {
		for _, k := range keys {
			m := map[string]string{k: "x"}
			Expect(passcodeAccepts("annotations", m)).To(Equal(secretAccepts(nil, m)), "annotation key %q", k)
		}
	})
})
