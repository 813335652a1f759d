package testenv

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/setup"
)

// Operator is the production wiring (setup.NewManager) running against a real control plane with a
// fake clock, for integration tests.
type Operator struct {
	*setup.Operator
	Env    *envtest.Environment
	Config *rest.Config
	// Client reads straight from the API server, never from a cache.
	Client client.Client
	Clock  *clocktesting.FakeClock
	cancel context.CancelFunc
	done   chan error
}

// StartOperator starts a control plane and the manager on it; tune may change the options (the
// metrics and probe servers are off and the access server listens on a free loopback port).
func StartOperator(tune func(*options.Options)) (*Operator, error) {
	env, err := New()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	op := &Operator{Env: env, Config: cfg, done: make(chan error, 1),
		Clock: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))}
	fail := func(err error) (*Operator, error) {
		_ = env.Stop()
		return nil, err
	}
	if op.Client, err = client.New(cfg, client.Options{Scheme: Scheme()}); err != nil {
		return fail(err)
	}
	opts := options.Default()
	opts.MetricsBindAddress = "0"
	opts.HealthProbeBindAddress = "0"
	opts.AccessBindAddress = "127.0.0.1:0"
	if tune != nil {
		tune(&opts)
	}
	if op.Operator, err = setup.NewManager(cfg, opts, op.Clock); err != nil {
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

// Stop stops the manager, then the control plane.
func (o *Operator) Stop() error {
	o.cancel()
	mgrErr := <-o.done
	if err := o.Env.Stop(); err != nil {
		return err
	}
	return mgrErr
}
