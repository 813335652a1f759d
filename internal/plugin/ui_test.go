package plugin_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/dashboardops/access-operator/internal/plugin"
)

var _ = Describe("ui", func() {
	It("refuses a port out of range before serving anything", func() {
		r := run("ui", "--port", "70000", "--no-browser").fail(plugin.ExitUsage, "invalid --port 70000")
		Expect(r.Out).To(BeEmpty())
	})

	It("refuses arguments", func() {
		run("ui", "extra").fail(plugin.ExitUsage, "expects no arguments")
	})

	It("is listed in the help", func() {
		Expect(run("--help").succeed().Out).To(ContainSubstring("Serve the users page on 127.0.0.1"))
	})
})
