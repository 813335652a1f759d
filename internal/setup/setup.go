// Package setup turns validated options into a controller-runtime manager with its cache, metrics,
// probes and controllers. main.go and the end-to-end tests share it, so tests run the wiring that
// production runs.
package setup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/dashboardops/access-operator/api/v1alpha1"
	"github.com/dashboardops/access-operator/controllers"
	"github.com/dashboardops/access-operator/internal/accessserver"
	"github.com/dashboardops/access-operator/internal/invite"
	"github.com/dashboardops/access-operator/internal/metrics"
	"github.com/dashboardops/access-operator/internal/notify"
	"github.com/dashboardops/access-operator/internal/options"
	"github.com/dashboardops/access-operator/internal/passcodesecret"
	"github.com/dashboardops/access-operator/internal/scim"
)

// LeaderElectionID names the Lease the replicas compete for.
const LeaderElectionID = "access-operator.dashboardops.io"

// ManagedSecretSelector selects the Secrets the operator writes: the only Secrets it caches.
func ManagedSecretSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue})
}

// CacheOptions caches only labelled Secrets (caching every Secret of a cluster has taken operators
// down, cert-manager#4722), trims everything cached of what no code reads (TrimForCache) and bounds
// what one Secret costs (TrimManagedSecret), and limits the cache to namespaces when given (nil
// means all).
func CacheOptions(namespaces []string) cache.Options {
	opts := cache.Options{
		DefaultTransform: TrimForCache,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: ManagedSecretSelector(), Transform: TrimManagedSecret},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// SCIMTokenSelector selects the Secrets that hold SCIM bearer tokens.
func SCIMTokenSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{accessv1alpha1.SCIMTokenLabel: "true"})
}

// SCIMTokenCacheOptions are the options of the second cache, which holds the SCIM token Secrets:
// one label selector cannot select "managed-by or scim-token", so these Secrets get a cache of
// their own, filtered by their label for every kind (it is only ever asked for Secrets), and no
// other Secret enters either cache. Anyone who may create a Secret anywhere can label it a token,
// SCIM on or not, so each enters as its name and its token's digest only (scim.TrimTokenSecret).
func SCIMTokenCacheOptions(namespaces []string) cache.Options {
	opts := CacheOptions(namespaces)
	opts.DefaultLabelSelector = SCIMTokenSelector()
	opts.ByObject = map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: SCIMTokenSelector(), Transform: scim.TrimTokenSecret}}
	return opts
}

// tokenCache is the SCIM token cache as a manager runnable. GetCache puts it in the manager's
// group of caches: started on every replica (the access server runs on each), and synced before
// the access server starts. A plain cache.Cache would be started by the elected leader only.
type tokenCache struct{ cache.Cache }

func (c tokenCache) GetCache() cache.Cache { return c.Cache }

// NewSCIMTokenCache builds the SCIM token cache for mgr, with its Secret informer registered so
// that the manager waits for it to sync.
func NewSCIMTokenCache(mgr ctrl.Manager, namespaces []string) (cache.Cache, error) {
	opts := SCIMTokenCacheOptions(namespaces)
	opts.Scheme, opts.Mapper, opts.HTTPClient = mgr.GetScheme(), mgr.GetRESTMapper(), mgr.GetHTTPClient()
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("creating the SCIM token cache: %w", err)
	}
	if _, err := c.GetInformer(context.Background(), &corev1.Secret{}); err != nil {
		return nil, fmt.Errorf("creating the SCIM token informer: %w", err)
	}
	if err := mgr.Add(tokenCache{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// lastAppliedAnnotation is where client-side `kubectl apply` keeps a full copy of the object.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache removes from an object entering the cache what no code of the operator reads from
// the cache: managedFields and the copy client-side `kubectl apply` keeps in an annotation (each
// about as big as the object). What reads field ownership (passcodesecret.Unrecorded: who last
// wrote a Secret's passcode) therefore works on live reads only. The operator writes an object's
// metadata from a cached copy only as merge patches of the fields it owns (owner references,
// its finalizers), so nothing trimmed is ever written back. The strings many objects repeat are
// shared (internStrings): same values, one copy.
func TrimForCache(in any) (any, error) {
	if obj, ok := in.(client.Object); ok {
		obj.SetManagedFields(nil)
		if a := obj.GetAnnotations(); a[lastAppliedAnnotation] != "" {
			trimmed := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != lastAppliedAnnotation {
					trimmed[k] = v
				}
			}
			obj.SetAnnotations(trimmed)
		}
		internStrings(obj)
	}
	return in, nil
}

// maxCachedSecretBytes bounds what one Secret costs in the manager's cache (its data, labels,
// annotations, owners, finalizers and type, in bytes). The operator's own Secrets hold a passcode,
// an email, the account, an expiry and a few rendered secretTemplate keys: a few KiB. Anyone who may
// create a Secret can label it managed-by access-operator, up to the API server's 1 MiB.
const maxCachedSecretBytes = 64 << 10

// TrimManagedSecret is the manager cache's transform for Secrets: TrimForCache, and a Secret larger
// than maxCachedSecretBytes enters as its identity only (managedSecretIdentity), so a 900 KB
// Secret costs less than a small one. Every reader then goes to the API server: without data, an
// issued Passcode's Secret lacks its passcode (Tampered) or its account key (Drifted), and the
// Passcode controller reads a Secret live unless the cache shows it in sync; a copy never looks in
// sync and is applied again; the invite key is read live. Tamper detection is decided on the live
// Secret, as it was.
func TrimManagedSecret(in any) (any, error) {
	in, err := TrimForCache(in)
	if s, ok := in.(*corev1.Secret); ok && err == nil && secretBytes(s) > maxCachedSecretBytes {
		return managedSecretIdentity(s), nil
	}
	return in, err
}

// secretBytes is what s costs in the cache, roughly: the bytes of everything anyone can fill.
func secretBytes(s *corev1.Secret) int {
	n := len(s.Type)
	for k, v := range s.Data {
		n += len(k) + len(v)
	}
	for _, m := range []map[string]string{s.Labels, s.Annotations, s.StringData} {
		for k, v := range m {
			n += len(k) + len(v)
		}
	}
	for _, r := range s.OwnerReferences {
		n += len(r.APIVersion) + len(r.Kind) + len(r.Name) + len(r.UID)
	}
	for _, f := range s.Finalizers {
		n += len(f)
	}
	return n
}

// maxOperatorValue is the longest value of the operator's own annotations (CopyOfAnnotation is a
// namespace, "/" and a name).
const maxOperatorValue = 63 + 1 + 253

// managedSecretIdentity is what the cache keeps of an oversized Secret: its identity, the labels
// the cache's label selectors read, the operator's annotations when they are of a size it writes,
// and its controller reference (Owns, OwnedBy). No data: reads of it go to the API server.
func managedSecretIdentity(s *corev1.Secret) *corev1.Secret {
	out := &corev1.Secret{TypeMeta: s.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Namespace: s.Namespace, Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion,
		CreationTimestamp: s.CreationTimestamp, DeletionTimestamp: s.DeletionTimestamp,
	}}
	if len(s.Type) <= validation.DNS1123SubdomainMaxLength {
		out.Type = s.Type
	}
	for _, k := range []string{accessv1alpha1.ManagedByLabel, accessv1alpha1.PasscodeLabel,
		passcodesecret.CopyOfNamespaceLabel, accessv1alpha1.InviteKeyLabel} {
		if v, ok := s.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v // label values are at most 63 bytes
		}
	}
	for _, k := range []string{passcodesecret.CopyOfAnnotation, passcodesecret.RevisionAnnotation} {
		if v, ok := s.Annotations[k]; ok && len(v) <= maxOperatorValue {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	if ref := metav1.GetControllerOf(s); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return out
}

// ManagerOptions builds the manager's options from the parsed settings.
func ManagerOptions(o options.Config, scheme *runtime.Scheme) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		// HTTP/2 Stream Cancellation and Rapid Reset CVEs: serve HTTP/1.1 only unless asked.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.MetricsBindAddress,
		SecureServing: o.MetricsSecure,
		TLSOpts:       tlsOpts,
	}
	if o.MetricsSecure {
		// Only callers the API server authenticates and authorizes (get on /metrics) may scrape.
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace, // "" = the in-cluster namespace
		LeaderElectionReleaseOnCancel: true,
		PprofBindAddress:              o.PprofBindAddress,
		Cache:                         CacheOptions(o.WatchNamespaceList),
	}
}

// Notifier builds the notifier --notifier names, from the secrets options.Parse read: it delivers
// invites and lifecycle events alike.
func Notifier(o options.Config) (notify.Deliverer, error) {
	switch o.Notifier {
	case options.NotifierSMTP:
		return notify.NewSMTP(notify.SMTPConfig{Address: o.SMTPAddress, From: o.SMTPFrom, Username: o.SMTPUsername,
			Password: string(o.SMTPPassword), TLS: o.SMTPTLS, CAs: o.SMTPCAs})
	case options.NotifierWebhook:
		return notify.NewWebhook(notify.WebhookConfig{URL: o.WebhookURL, Secret: []byte(o.WebhookSecret),
			Scheme: notify.SignatureScheme(o.WebhookSignature)})
	default:
		return notify.NewLog(os.Stdout), nil
	}
}

// Scheme knows the built-in kinds and this project's kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := appsv1.AddToScheme(s); err != nil { // rollout restarts patch Deployments, StatefulSets, DaemonSets
		return nil, err
	}
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Operator is a manager with everything registered, and the access server it runs.
type Operator struct {
	ctrl.Manager
	Access *accessserver.Server
	// SCIMTokens is the cache of SCIM token Secrets (NewSCIMTokenCache).
	SCIMTokens cache.Cache
}

// NewManager builds a manager with probes, every controller and the access server registered.
func NewManager(cfg *rest.Config, o options.Config, clk clock.PassiveClock) (*Operator, error) {
	return NewManagerWithMapper(cfg, o, clk, nil)
}

// NewManagerWithMapper is NewManager with the REST mapper WaitForAPIServer returned, which already
// holds every mapping building the manager asks for: building it then needs no API server, so it
// cannot fail because the API server went away again just after answering. nil: a new mapper.
func NewManagerWithMapper(cfg *rest.Config, o options.Config, clk clock.PassiveClock, mapper apimeta.RESTMapper) (*Operator, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mgrOpts := ManagerOptions(o, scheme)
	cfg, mgrOpts.LeaderElectionConfig = RESTConfigs(cfg, o)
	if mapper != nil {
		mgrOpts.MapperProvider = func(*rest.Config, *http.Client) (apimeta.RESTMapper, error) { return mapper, nil }
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	notifier, err := Notifier(o)
	if err != nil {
		return nil, err
	}
	if err := Controllers(mgr, o, clk, notifier); err != nil {
		return nil, err
	}
	tokens, err := NewSCIMTokenCache(mgr, o.WatchNamespaceList)
	if err != nil {
		return nil, err
	}
	access, err := AccessServer(mgr, o, clk, tokens)
	if err != nil {
		return nil, err
	}
	// Ready = this replica can answer gateways from a complete cache: the informer caches have
	// synced and the access server accepts connections. Each check is named in /readyz?verbose.
	if err := mgr.AddReadyzCheck("informer-caches", CachesSynced(mgr.GetCache())); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("access-server", func(*http.Request) error { return access.Ready() }); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("scim-token-cache", CachesSynced(tokens)); err != nil {
		return nil, err
	}
	return &Operator{Manager: mgr, Access: access, SCIMTokens: tokens}, nil
}

// RESTConfigs returns the manager's API client configuration and the leader election's. Every
// client of the manager shares one token bucket of --kube-api-qps and --kube-api-burst (client-go
// gives each REST client, one per resource, a bucket of its own, so the flags would otherwise limit
// each resource, not the manager); lease renewals keep a client outside it, so a burst of
// reconciles never delays one.
func RESTConfigs(cfg *rest.Config, o options.Config) (manager, leaderElection *rest.Config) {
	leaderElection = rest.CopyConfig(cfg)
	manager = rest.CopyConfig(cfg)
	manager.QPS, manager.Burst = float32(o.KubeAPIQPS), o.KubeAPIBurst
	manager.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(manager.QPS, manager.Burst)
	return manager, leaderElection
}

// cacheSyncProbeTimeout bounds how long one readiness probe waits for the caches to sync.
const cacheSyncProbeTimeout = 200 * time.Millisecond

// CachesSynced is a readiness check that passes once every informer of c has synced. Informers
// never go back to unsynced, so after the first success it answers without waiting.
func CachesSynced(c cache.Cache) healthz.Checker {
	var synced atomic.Bool
	return func(req *http.Request) error {
		if synced.Load() {
			return nil
		}
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncProbeTimeout)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the informer caches have not synced yet")
		}
		synced.Store(true)
		return nil
	}
}

// AccessServer registers the access server, which runs on every replica and keeps its own index of
// the cache (passcodes by hash, users by invite link), the DashboardRole informer it reads
// permissions from, and its SCIM endpoint, which reads bearer tokens from tokens
// (NewSCIMTokenCache).
func AccessServer(mgr ctrl.Manager, o options.Config, clk clock.PassiveClock, tokens cache.Cache) (*accessserver.Server, error) {
	// The DashboardRole informer answers custom roles' permissions. Asked for now, it starts with
	// the cache, and the informer-caches readiness check waits for it like the others, so a replica
	// never answers from an empty role cache (which would grant no permissions, not fail).
	if _, err := mgr.GetCache().GetInformer(context.Background(), &accessv1alpha1.DashboardRole{},
		cache.BlockUntilSynced(false)); err != nil {
		return nil, fmt.Errorf("the DashboardRole informer: %w", err)
	}
	srv := accessserver.New(accessserver.Config{
		SCIM:               scim.NewHandler(mgr.GetCache(), mgr.GetAPIReader(), mgr.GetClient(), scim.SecretTokens{Reader: tokens, Namespaces: mgr.GetCache()}),
		BindAddress:        o.AccessBindAddress,
		Reader:             mgr.GetCache(),
		APIReader:          mgr.GetAPIReader(),
		Writer:             mgr.GetClient(),
		Clock:              clk,
		TrustedProxies:     o.TrustedProxyPrefixes,
		ThrottleIPv6Prefix: o.ThrottleIPv6Prefix,
	})
	if err := mgr.Add(srv); err != nil {
		return nil, err
	}
	return srv, nil
}

// Controllers registers one reconciler per Kind, and the cache indexes they share (Indexes). The notification
// controllers run for the events --notify-events asks for that notifier delivers (none: not run).
func Controllers(mgr ctrl.Manager, o options.Config, clk clock.PassiveClock, notifier notify.Deliverer) error {
	if err := Indexes(mgr.GetCache()); err != nil {
		return err
	}
	events := o.Events.Filter(notifier.Delivers)
	users := &controllers.DashboardUserReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Clock:        clk,
		Recorder:     mgr.GetEventRecorder("dashboarduser-controller"),
		Notifier:     notifier,
		NotifyEvents: events,
		Batcher:      &invite.Batcher{Size: o.InviteBatchSize, Global: o.InviteGlobalBatchSize, Window: o.InviteBatchWindow},
		PublicURL:    o.PublicURL,
		Workers:      o.UserWorkers,
	}
	if err := users.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the DashboardUser controller: %w", err)
	}
	passcodes := &controllers.PasscodeReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Clock:     clk,
		Recorder:  mgr.GetEventRecorder("passcode-controller"),
		Workers:   o.PasscodeWorkers,
	}
	if err := passcodes.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Passcode controller: %w", err)
	}
	copies := &controllers.PasscodeCopiesReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk,
		Recorder: mgr.GetEventRecorder("passcode-controller"), WatchNamespaces: o.WatchNamespaceList, Workers: o.PasscodeWorkers}
	if err := copies.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Passcode copies controller: %w", err)
	}
	restarts := &controllers.PasscodeRestartReconciler{Client: mgr.GetClient(), Clock: clk,
		Recorder: mgr.GetEventRecorder("passcode-controller")}
	if err := restarts.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Passcode rollout restart controller: %w", err)
	}
	roles := &controllers.DashboardRoleReconciler{
		Client:   mgr.GetClient(),
		Clock:    clk,
		Recorder: mgr.GetEventRecorder("dashboardrole-controller"),
	}
	if err := roles.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the DashboardRole controller: %w", err)
	}
	reviews := &controllers.AccessReviewReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk,
		Recorder: mgr.GetEventRecorder("accessreview-controller")}
	if err := reviews.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AccessReview controller: %w", err)
	}
	policies := &controllers.DashboardPolicyReconciler{Client: mgr.GetClient(), Clock: clk,
		Recorder: mgr.GetEventRecorder("dashboardpolicy-controller")}
	if err := policies.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the DashboardPolicy controller: %w", err)
	}
	if events != 0 {
		notifications := &controllers.NotificationReconciler{
			Client:    mgr.GetClient(),
			APIReader: mgr.GetAPIReader(),
			Clock:     clk,
			Notifier:  notifier,
			Events:    events,
			Workers:   o.UserWorkers,
		}
		if err := notifications.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the notification controllers: %w", err)
		}
	}
	if err := metrics.Register(mgr.GetCache(), mgr.Elected()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	return nil
}
