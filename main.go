// Command manager runs the dashboard access operator: the DashboardUser, Passcode and
// DashboardRole controllers and the lifecycle notifications (on the elected leader), and the access
// server with the invite page and the SCIM endpoint (on every replica). Flags are parsed once into
// options.Config; internal/setup wires the rest.
package main

import (
	"flag"
	"fmt"
	"os"

	// Mozilla's roots, used only when the system has none: the image `make image` builds carries no
	// CA file (it would come from the build host and break "same tree, same digest"), and the SMTP
	// notifier verifies its server with the system roots. The Dockerfile's distroless base has a CA
	// file, which takes precedence, as does SSL_CERT_FILE.
	_ "golang.org/x/crypto/x509roots/fallback"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/dashboardops/access-operator/internal/memlimit"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
)

// version is set at link time: -ldflags "-X main.version=..." (GO_BUILD in the Makefile, VERSION=).
var version = "v0.0.0-dev"

func main() {
	opts := options.Default()
	opts.Bind(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	conf, err := opts.Parse() // once: setup reads the typed settings and the secret files' contents
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid flags:\n%v\n", err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	// Before anything fills the caches: the collector must know the container's limit from the start.
	if d, err := memlimit.FromEnvironment(); err != nil {
		log.Error(err, "Cannot read the container's memory limit; the Go runtime keeps no soft limit")
	} else if d.Applied > 0 {
		log.Info("Go soft memory limit set from the container's", "softLimitBytes", d.Applied,
			"containerLimitBytes", d.ContainerLimit, "fraction", memlimit.Fraction, "from", d.Source)
	} else {
		log.Info("No Go soft memory limit set from the container", "why", d.Source)
	}
	if w := conf.InsecureDeliveryWarning(); w != "" {
		log.Info("WARNING: --allow-insecure-delivery: "+w, "notifier", conf.Notifier)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Cannot load a kubeconfig (--kubeconfig, $KUBECONFIG or in-cluster)")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	// An unreachable API server (or CRDs not installed yet) is waited for here, with the probes
	// saying why, rather than left to kubelet's crash-loop backoff.
	mapper, err := setup.WaitForAPIServer(ctx, cfg, conf, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("Stopped while waiting for the API server")
			return
		}
		log.Error(err, "Cannot create the manager")
		os.Exit(1)
	}
	mgr, err := setup.NewManagerWithMapper(cfg, conf, clock.RealClock{}, mapper)
	if err != nil {
		log.Error(err, "Cannot create the manager")
		os.Exit(1)
	}
	log.Info("Starting manager", "version", version, "accessBindAddress", conf.AccessBindAddress, "notifier", conf.Notifier)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
