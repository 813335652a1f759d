package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
)

// Operator is the production wiring (setup.NewManager) running against a real control plane with a
// fake clock, for integration tests. The control plane has a garbage collector and a namespace
// controller (KCM), so owner references and namespace deletion work as in a cluster.
type Operator struct {
	*setup.Operator
	Env    *envtest.Environment
	Config *rest.Config
	KCM    *ControllerManager
	// Client reads straight from the API server, never from a cache.
	Client client.Client
	Clock  *clocktesting.FakeClock
	cancel context.CancelFunc
	done   chan error
}

// StartOperator starts a control plane, kube-controller-manager and the manager on it; tune may
// change the options (the metrics and probe servers are off and the access server listens on a
// free loopback port).
func StartOperator(tune func(*options.Options)) (*Operator, error) {
	return StartOperatorWith(OperatorConfig{Tune: tune})
}

// OperatorConfig adjusts what StartOperatorWith starts.
type OperatorConfig struct {
	// Tune may change the manager's options.
	Tune func(*options.Options)
	// WrapTransport, when set, wraps the manager's transport to the API server (e.g.
	// FaultInjector.Wrap); Operator.Client and Operator.Config stay unwrapped.
	WrapTransport transport.WrapperFunc
	// PrepareEnv may change the environment before the control plane starts (e.g. give the API
	// server a fixed CertDir, so that it can be stopped and started again with the same certificates).
	PrepareEnv func(*envtest.Environment)
}

// StartOperatorWith is StartOperator with more to adjust.
func StartOperatorWith(c OperatorConfig) (*Operator, error) {
	tune := c.Tune
	env, err := New()
	if err != nil {
		return nil, err
	}
	if c.PrepareEnv != nil {
		c.PrepareEnv(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	op := &Operator{Env: env, Config: cfg, done: make(chan error, 1),
		Clock: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))}
	fail := func(err error) (*Operator, error) {
		if op.KCM != nil {
			_ = op.KCM.Stop()
		}
		_ = env.Stop()
		return nil, err
	}
	if op.Client, err = client.New(cfg, client.Options{Scheme: Scheme()}); err != nil {
		return fail(err)
	}
	if op.KCM, err = StartControllerManager(env, cfg, ""); err != nil {
		return fail(err)
	}
	opts := options.Default()
	opts.Dev = true // the log notifier and a loopback --public-url, as on a workstation
	opts.MetricsBindAddress = "0"
	opts.HealthProbeBindAddress = "0"
	opts.AccessBindAddress = "127.0.0.1:0"
	if tune != nil {
		tune(&opts)
	}
	mgrCfg := cfg
	if c.WrapTransport != nil {
		mgrCfg = rest.CopyConfig(cfg)
		mgrCfg.WrapTransport = transport.Wrappers(mgrCfg.WrapTransport, c.WrapTransport)
	}
	conf, err := opts.Parse()
	if err != nil {
		return fail(err)
	}
	if op.Operator, err = setup.NewManager(mgrCfg, conf, op.Clock); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	op.cancel = cancel
	go func() { op.done <- op.Start(ctx) }()
	if !op.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return fail(fmt.Errorf("the manager's cache did not sync: %v", <-op.done))
	}
	return op, nil
}

// Stop stops the manager, then kube-controller-manager, then the control plane.
func (o *Operator) Stop() error {
	o.cancel()
	mgrErr := <-o.done
	kcmErr := o.KCM.Stop()
	if err := o.Env.Stop(); err != nil {
		return err
	}
	return errors.Join(mgrErr, kcmErr)
}
